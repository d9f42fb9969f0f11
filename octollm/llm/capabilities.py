"""Which structured-output form an endpoint accepts, learnt once per process and endpoint.

Forms, best first: ``json_schema`` (OpenAI, vLLM), ``json_object`` with a ``schema``
(llama-cpp-python's server compiles it into a grammar), ``none`` (the schema in the prompt).
The configured ``structured_output`` is the best form a client may use; what the endpoint
accepts is learnt per ``(base_url, model)`` and shared by every client in the process:

1. **Ask the server's own description.** A FastAPI-based server (llama-cpp-python) publishes
   ``/openapi.json``; when its chat request schema lists the ``response_format`` types it
   accepts, that answers the question without sending a request it would reject (llama.cpp
   answers a ``json_schema`` request with HTTP 500 and a traceback in its log).
2. **Otherwise the first structured call is the probe.** It is sent with the best form while
   the endpoint's lock is held (concurrent first calls wait for its outcome instead of each
   provoking an error); a rejection (400/422/500 naming ``response_format``) records the next
   form down and the call is resent with it. Success records the form. Any other failure
   (timeout, 503) teaches nothing; the next call probes again.

So an endpoint sees at most one rejected request per process, and none when it describes itself.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any, Literal

StructuredOutput = Literal["json_schema", "json_object", "none"]
ORDER: tuple[StructuredOutput, ...] = ("json_schema", "json_object", "none")

_known: dict[tuple[str, str], StructuredOutput] = {}
_locks: dict[tuple[str, str], threading.Lock] = {}
_guard = threading.Lock()


def key(base_url: str, model: str) -> tuple[str, str]:
    return (base_url.rstrip("/"), model)


def known(base_url: str, model: str) -> StructuredOutput | None:
    """The best form this endpoint is known to accept, or None while unknown."""
    return _known.get(key(base_url, model))


def remember(base_url: str, model: str, form: StructuredOutput) -> None:
    _known[key(base_url, model)] = form


def lock(base_url: str, model: str) -> threading.Lock:
    """The endpoint's probe lock (held by the call that finds the answer out)."""
    with _guard:
        return _locks.setdefault(key(base_url, model), threading.Lock())


def forget_all() -> None:
    """Drop what was learnt (tests; a process that changed endpoints)."""
    _known.clear()


def weaker(form: StructuredOutput) -> StructuredOutput:
    """The next form down (``none`` stays ``none``)."""
    return ORDER[min(ORDER.index(form) + 1, len(ORDER) - 1)]


def capped(preferred: StructuredOutput, accepted: StructuredOutput | None) -> StructuredOutput:
    """The best form allowed both by configuration and by the endpoint."""
    if accepted is None:
        return preferred
    return ORDER[max(ORDER.index(preferred), ORDER.index(accepted))]


def from_openapi(document: Any) -> StructuredOutput | None:
    """The best form an OpenAPI description's ``response_format`` allows, or None if it
    does not say (no such schema, or its ``type`` is not an enumeration)."""
    if not isinstance(document, dict):
        return None
    schemas = (document.get("components") or {}).get("schemas") or {}
    allowed: set[str] = set()
    found = False
    for name, schema in schemas.items():
        if "responseformat" not in str(name).replace("_", "").lower():
            continue
        for values in _type_values(schema):
            found = True
            allowed |= values
    if not found:
        return None
    if "json_schema" in allowed:
        return "json_schema"
    return "json_object" if "json_object" in allowed else "none"


def _type_values(schema: Any) -> Iterator[set[str]]:
    """The enumerated values of ``properties.type`` in ``schema`` and its ``anyOf`` branches."""
    if not isinstance(schema, dict):
        return
    kind = (schema.get("properties") or {}).get("type")
    if isinstance(kind, dict):
        if isinstance(kind.get("enum"), list):
            yield {str(v) for v in kind["enum"]}
        elif "const" in kind:
            yield {str(kind["const"])}
    for branch in (*schema.get("anyOf", ()), *schema.get("oneOf", ())):
        yield from _type_values(branch)
