"""Property-based fuzzing of the served OpenAPI document with schemathesis.

Every operation gets up to ``MAX_EXAMPLES`` generated requests against a real uvicorn process
(real Postgres and Redis), authenticated with an admin key so the routes past authentication
are reached. No response may be a 5xx, and every response must match the documented status
codes, content types, headers and schemas.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.apiserver import api_server, api_stack, make_key
from tests.support.stack import LiveStack

__all__ = ["api_stack"]

MAX_EXAMPLES = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def _fuzz(operation: schemathesis.APIOperation, url: str, key: str, counts: dict[str, int]) -> None:
    label = operation.label
    counts[label] = 0

    @given(case=operation.as_strategy())
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        counts[label] += 1
        headers = {"X-API-Key": key}
        response = case.call(base_url=url, headers=headers, timeout=15)
        case.validate_response(response, checks=CHECKS, headers=headers)

    run()


def test_fuzzing_the_openapi_document_finds_no_5xx_and_no_schema_violation(
    api_stack: LiveStack,
) -> None:
    api_stack.start_fleet(["orchestrator", "echo"])
    key = make_key(api_stack, "fuzz", ["admin"])
    counts: dict[str, int] = {}
    failures: list[str] = []
    with api_server(api_stack, sse_max_seconds=2.0, ready_arms=["orchestrator", "echo"]) as api:
        schema = schemathesis.openapi.from_url(f"{api.url}/openapi.json")
        for result in schema.get_all_operations():
            operation = result.ok()
            try:
                _fuzz(operation, api.url, key, counts)
            except Exception as exc:
                failures.append(f"{operation.label}: {exc}"[:3000])
    total = sum(counts.values())
    print(f"\nschemathesis: {total} examples over {len(counts)} operations")
    for label, n in sorted(counts.items()):
        print(f"  {n:4d}  {label}")
    assert not failures, "\n\n".join(failures)
    assert len(counts) >= 20
