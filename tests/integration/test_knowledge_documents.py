"""Knowledge in: documents through the API, ingested on a real retriever pool, cited by search.

Three documents of three kinds (Markdown, HTML, PDF) go in through
``POST /api/v1/knowledge/documents``; the retriever pool chunks and embeds them; a question
asked as a task on the same pool is answered by results whose citations name the right
document. Another tenant sees none of it, and a deleted document stops being found.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.apiserver import headers, inproc_client, make_key
from tests.support.documents import page_html, tiny_pdf
from tests.support.stack import LiveStack, live_stack

HANDBOOK = """# Employee handbook

Holidays: every employee has 30 days of paid leave per year.

Remote work is allowed three days a week, with the manager's agreement.
"""
SHIPPING = page_html(
    "Shipping times",
    ["Parcels to Europe arrive within four working days.", "Express delivery costs 12 euros."],
)
WARRANTY = tiny_pdf(
    ["The warranty on every kettle lasts 24 months.", "Limescale damage is not covered."],
    title="Warranty terms",
)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    with live_stack(tmp_path_factory.mktemp("knowledge")) as stack:
        # a search that finds nothing asks for a replan (planner); the new plan ends with a judge
        stack.start_fleet(["orchestrator", "retriever", "planner", "judge"])
        yield stack


@pytest.fixture(scope="module")
def api(fleet: LiveStack) -> Iterator[TestClient]:
    with inproc_client(fleet) as client:
        yield client


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def wait_ready(api: TestClient, key: str, ids: list[str], timeout: float = 180) -> list[Any]:
    deadline = time.monotonic() + timeout
    while True:
        docs = api.get("/api/v1/knowledge/documents", headers=headers(key)).json()["documents"]
        mine = [d for d in docs if d["id"] in ids]
        if len(mine) == len(ids) and all(d["status"] != "ingesting" for d in mine):
            return mine
        if time.monotonic() > deadline:
            raise TimeoutError(f"documents still ingesting: {mine}")
        time.sleep(0.3)


def ask(api: TestClient, key: str, query: str, timeout: float = 120) -> dict[str, Any]:
    plan = {"steps": [{"step_id": "search", "arm": "retriever", "action": "search",
                       "input": {"query": query, "limit": 3}}]}  # fmt: skip
    body = {"goal": f"Answer from the documents: {query}", "plan": plan}
    accepted = api.post("/api/v1/tasks", json=body, headers=headers(key))
    assert accepted.status_code == 202, accepted.text
    task_id = accepted.json()["task_id"]
    deadline = time.monotonic() + timeout
    while True:
        task = api.get(f"/api/v1/tasks/{task_id}", headers=headers(key)).json()
        if task["status"] in ("completed", "failed", "cancelled"):
            break
        assert time.monotonic() < deadline, task
        time.sleep(0.2)
    steps = api.get(f"/api/v1/tasks/{task_id}/steps", headers=headers(key)).json()
    search = next(s for s in steps["steps"] if s["step_id"] == "search")
    output: dict[str, Any] = search["output"]
    return output


@pytest.fixture(scope="module")
def ingested(fleet: LiveStack, api: TestClient) -> dict[str, Any]:
    key = make_key(fleet, "acme")
    bodies = [
        {"filename": "handbook.md", "text": HANDBOOK},
        {"filename": "shipping.html", "content_base64": _b64(SHIPPING)},
        {"filename": "warranty.pdf", "content_base64": _b64(WARRANTY)},
    ]
    created = []
    for body in bodies:
        response = api.post("/api/v1/knowledge/documents", json=body, headers=headers(key))
        assert response.status_code == 202, response.text
        assert response.json()["status"] == "ingesting"
        created.append(response.json())
    docs = wait_ready(api, key, [c["id"] for c in created])
    return {"key": key, "docs": {d["filename"]: d for d in docs}}


def test_three_kinds_of_document_are_ingested_on_the_retriever_pool(ingested) -> None:
    docs = ingested["docs"]
    assert {name: d["status"] for name, d in docs.items()} == dict.fromkeys(docs, "ready")
    assert docs["handbook.md"]["title"] == "Employee handbook"
    assert docs["shipping.html"]["title"] == "Shipping times"
    assert docs["warranty.pdf"]["title"] == "Warranty terms"
    assert all(d["chunks"] >= 1 for d in docs.values())


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("How many days of paid leave do employees get?", "handbook.md"),
        ("How long does a parcel take to reach Europe?", "shipping.html"),
        ("How long is the kettle warranty?", "warranty.pdf"),
    ],
)
def test_a_question_is_answered_by_results_citing_the_right_document(
    api: TestClient, ingested, question: str, expected: str
) -> None:
    output = ask(api, ingested["key"], question)
    top = output["results"][0]
    document = ingested["docs"][expected]
    assert top["citation"]["document_id"] == document["id"]
    assert top["citation"]["title"] == document["title"]
    assert top["citation"]["chunk"] == top["metadata"]["chunk_index"]
    assert top["source"] == expected


def test_another_tenant_neither_lists_nor_reads_nor_deletes_nor_finds_them(
    fleet: LiveStack, api: TestClient, ingested
) -> None:
    other = make_key(fleet, "globex")
    listing = api.get("/api/v1/knowledge/documents", headers=headers(other)).json()
    assert listing == {"documents": []}
    some_id = ingested["docs"]["handbook.md"]["id"]
    path = f"/api/v1/knowledge/documents/{some_id}"
    assert api.get(path, headers=headers(other)).status_code == 404
    assert api.delete(path, headers=headers(other)).status_code == 404
    output = ask(api, other, "How many days of paid leave do employees get?")
    assert output["results"] == []


def test_a_deleted_document_leaves_the_listing_at_once_and_the_search_after_its_task(
    fleet: LiveStack, api: TestClient
) -> None:
    key = make_key(fleet, "initech")
    body = {"filename": "memo.md", "text": "The TPS report cover sheet is mandatory from Monday."}
    created = api.post("/api/v1/knowledge/documents", json=body, headers=headers(key)).json()
    wait_ready(api, key, [created["id"]])
    assert ask(api, key, "Is the TPS report cover sheet mandatory?")["results"]
    deleted = api.delete(f"/api/v1/knowledge/documents/{created['id']}", headers=headers(key))
    assert deleted.status_code == 202
    assert api.get("/api/v1/knowledge/documents", headers=headers(key)).json()["documents"] == []
    forget = deleted.json()["forget_task_id"]
    deadline = time.monotonic() + 60
    while api.get(f"/api/v1/tasks/{forget}", headers=headers(key)).json()["status"] != "completed":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert ask(api, key, "Is the TPS report cover sheet mandatory?")["results"] == []


def test_a_document_without_content_or_of_an_unknown_type_is_refused(
    fleet: LiveStack, api: TestClient
) -> None:
    key = make_key(fleet, "umbrella")
    for body in (
        {"filename": "a.md"},
        {"filename": "a.png", "content_base64": _b64(b"\x89PNG....")},
        {"filename": "a.pdf", "content_base64": "not base64!"},
    ):
        response = api.post("/api/v1/knowledge/documents", json=body, headers=headers(key))
        assert response.status_code == 422, (body, response.text)


def test_the_readme_cli_ingests_a_directory_with_a_progress_bar(
    fleet: LiveStack, tmp_path: Path
) -> None:
    """``octollm ingest DIR --tenant T --no-workers`` against the running fleet."""
    import subprocess
    import sys

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# Alpha\n\nAlpha centauri is the nearest star system.")
    (docs / "b.html").write_bytes(page_html("Beta", ["Beta decay emits an electron."]))
    (docs / "skip.bin").write_bytes(b"\x00")
    env = {**fleet.env(), "COLUMNS": "120"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "octollm.cli.main",
            "ingest",
            str(docs),
            "--tenant",
            "stark",
            "--no-workers",
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    import json

    out = json.loads(done.stdout)
    assert sorted(d["title"] for d in out["documents"]) == ["Alpha", "Beta"]
    assert all(d["status"] == "ready" and d["chunks"] == 1 for d in out["documents"])
