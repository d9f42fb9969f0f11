"""The README's "ingest, then ask" commands, run as written (``scripts/octollm`` is the CLI).

Against configured services (a fresh database, this run's Redis DB) and the scripted model,
which plans one retriever search; ``octollm ingest`` starts its own retriever pool and stops
it, then ``octollm run`` starts the whole fleet. The answer's search results cite the handbook.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.fake_llm import FakeLLM
from tests.support.stack import ROOT, live_stack

MARKER = "<!-- readme-test: ingest-then-ask -->"
PLAN = {
    "steps": [
        {
            "step_id": "search",
            "arm": "retriever",
            "action": "Search the knowledge base",
            "input": {"query": "days of paid leave per year", "limit": 3},
        }
    ],
    "rationale": "a question about the documents",
    "confidence": 0.9,
}


def readme_commands() -> list[list[str]]:
    text = (ROOT / "README.md").read_text()
    block = text.split(MARKER, 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    commands = []
    for line in block.strip().splitlines():
        argv = shlex.split(re.sub(r"\s+#.*$", "", line))
        assert argv[0] == "scripts/octollm", line
        commands.append([sys.executable, "-m", "octollm.cli.main", *argv[1:]])
    return commands


def test_the_readme_ingests_the_examples_then_answers_with_a_citation(tmp_path: Path) -> None:
    ingest, ask = readme_commands()
    with FakeLLM(lambda _: PLAN) as llm, live_stack(tmp_path) as stack:
        env = {**stack.env(), "OCTOLLM_LLM__BASE_URL": llm.base_url, "COLUMNS": "120"}
        done = subprocess.run(
            ingest, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
        )
        assert done.returncode == 0, done.stderr[-3000:]
        assert "ready" in done.stdout
        asked = subprocess.run(
            [*ask, "--json"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
            check=False,
        )  # fmt: skip
    record: dict[str, Any] = json.loads(asked.stdout)
    search = next(s for s in record["steps"] if s["step_id"] == "search")
    top = search["output"]["results"][0]
    assert top["source"] == "handbook.md", top
    assert top["citation"]["title"] == "Employee handbook"
    assert top["citation"]["document_id"].startswith("doc-")
    assert "30 days of paid leave" in top["content"]
