"""Two test suites started at once on one machine both pass.

Each pytest session owns its Redis (a private ``redis-server``), its databases (names tagged
with the session) and its worker fleet (tests/support/session.py, tests/support/fleet.py), so
nothing one run flushes, truncates or drops belongs to the other. This starts two sessions of a
small subset at the same moment, as two developers (or CI and a developer) would, and both must
pass. The subset uses the shared fleet (queues emptied and tables truncated between tests), a
stack of its own (``live_stack`` flushes its Redis DB) and the API tier's servers.

``OCTOLLM_TEST_TWO_SUITES`` replaces the subset (pytest arguments, space-separated).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.stack import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

SUBSET = os.environ.get(
    "OCTOLLM_TEST_TWO_SUITES",
    "tests/integration/test_durability_priority.py tests/integration/test_api_edge_guards.py",
).split()


def _child_env(tmp: Path) -> dict[str, str]:
    """This session's environment without what would tie a child to it: its Redis, its xdist
    worker identity, its machine test lock (a child waiting on it while we hold it: deadlock)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k != "OCTOLLM_TEST_REDIS_URL"
        and not k.startswith("PYTEST_")
        and not k.startswith("OCTOLLM_")  # the children set their own, like a fresh shell
    }
    env["OCTOLLM_TEST_LOCK_DIR"] = str(tmp / "lock")
    env["PYTHONPATH"] = str(ROOT)
    return env


def test_two_suites_started_at_once_on_one_machine_both_pass(tmp_path: Path) -> None:
    env = _child_env(tmp_path)
    runs = []
    for n in (1, 2):
        log = tmp_path / f"suite-{n}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                 "-o", "addopts=--strict-markers", "--basetemp", str(tmp_path / f"base-{n}"),
                 *SUBSET],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        runs.append((proc, log))
    for proc, log in runs:
        code = proc.wait(840)
        text = log.read_text(errors="replace")
        assert code == 0, text[-4000:]
        assert " passed" in text, text[-4000:]
        assert "skipped" not in text, text[-4000:]
