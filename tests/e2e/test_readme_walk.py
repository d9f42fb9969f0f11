"""README.md walked top to bottom as written: every fenced code block, in order.

The commands are copied from the README by this test (never retyped) and run against a live
stack (a fresh database, a Redis DB; the README's service URLs are replaced by the stack's, the
way a reader's ``export`` lines would point at theirs). Shell blocks run line by line, as a
shell would: ``export``s and ``VAR=$(...)`` set the walk's environment, ``cmd &`` and the
long-running commands (``worker``, ``beat``, ``api``, ``flower``) start in the background and
must come up, and every other command must exit 0. Placeholders the README prints (``task-…``,
``key_0123456789ab``, ``wh-0123abcd``) are replaced by the ids the walk created, and the
example webhook URL by a receiver on loopback (allow-listed, as the README says to do for an
in-cluster receiver): this machine need not resolve example.org. Python
blocks are executed, the JSON plan is submitted.

What the walk does not run itself is listed in :data:`ELSEWHERE` (a test that already runs it,
so the cost is not paid twice: the embedded SmolLM2 run, ``ingest`` then ask, the web-app
example) or :data:`NOT_RUN` (with the reason). A block or command the walk cannot place
fails the test, so a README change cannot leave a command untested.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_run_embedded import GOAL as EMBEDDED_GOAL
from tests.support.stack import ROOT, LiveStack, live_stack
from tests.support.webhook_receiver import webhook_receiver

# About ten long-running CLI processes: 13 min measured on a heavily loaded 2-core machine.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]

README = ROOT / "README.md"
CLI = (".venv/bin/octollm", "scripts/octollm")
EXAMPLE_HOOK = "https://example.org/octollm-hook"
LONG_RUNNING = {"worker", "beat", "api", "flower", "metrics"}

#: Commands another test runs as written (``startswith`` on the command line), by that test.
ELSEWHERE = {
    "scripts/octollm run ": "tests/e2e/test_run_embedded.py (the same goal on SmolLM2)",
    ".venv/bin/octollm run ": "tests/e2e/test_run_embedded.py (the same goal on SmolLM2)",
    ".venv/bin/python examples/webapp.py": "tests/integration/test_api_client.py (the example)",
    ".venv/bin/octollm webhooks redeliver ": (
        "tests/e2e/test_cli_admin.py (a dead delivery, redelivered by a worker)"
    ),
}
#: Commands no test runs, and why.
NOT_RUN = {
    "scripts/test": "the whole test suite, which contains this test (CI runs it as .ci/run)",
}
#: Blocks another test covers or that are not commands, by their first line.
BLOCKS_ELSEWHERE = {
    "$ scripts/octollm run": "sample output of `octollm run --json`, not a command",
    "scripts/octollm ingest examples/knowledge/": (
        "tests/e2e/test_readme_knowledge.py runs this block (ingest, then ask) as written"
    ),
    "from octollm.client import OctoClient": (
        "examples/webapp.py's handler, run by tests/integration/test_api_client.py"
    ),
}


@dataclass
class Block:
    lang: str
    text: str
    line: int


def readme_blocks() -> list[Block]:
    blocks, lang, body, start = [], None, [], 0
    for number, line in enumerate(README.read_text().splitlines(), 1):
        if line.startswith("```"):
            if lang is None:
                lang, body, start = line[3:].strip(), [], number
            else:
                blocks.append(Block(lang, "\n".join(body), start))
                lang = None
            continue
        if lang is not None:
            body.append(line)
    return blocks


def shell_lines(text: str) -> list[str]:
    """The block's command lines: continuations joined, comments and blank lines dropped."""
    lines = []
    for raw in text.replace("\\\n", " ").splitlines():
        line = re.sub(r"\s+#\s.*$", "", raw).strip()
        if line and not line.startswith("#"):
            lines.append(line)
    return lines


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def listening(port: str) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", int(port))) == 0


@dataclass
class Walk:
    stack: LiveStack
    env: dict[str, str]
    values: dict[str, str] = field(default_factory=dict)
    background: list[tuple[subprocess.Popen[bytes], Path]] = field(default_factory=list)
    ran: list[str] = field(default_factory=list)

    # -- substitutions ------------------------------------------------------------------

    def stack_value(self, name: str, value: str) -> str:
        """The live stack's value for a service URL the README exports (else the README's)."""
        if name == "OCTOLLM_DATABASE__URL":
            return self.stack.database_url
        if name == "OCTOLLM_BROKER__URL":
            return self.stack.redis_url
        return value

    def substitute(self, word: str) -> str:
        for placeholder in ("task-…", "key_0123456789ab", "wh-0123abcd"):
            if word == placeholder:
                return self.values[placeholder]
        word = re.sub(r"\$\{?(\w+)\}?", lambda m: self.values.get(m[1], m[0]), word)
        if word == EXAMPLE_HOOK:  # the reader's endpoint: ours is on loopback (allow-listed)
            return self.values[EXAMPLE_HOOK]
        if word.startswith("postgresql://postgres@127.0.0.1:5432/octollm"):
            return self.stack.database_url.replace("+psycopg", "")
        return word

    def argv(self, words: list[str]) -> list[str]:
        program, *rest = words
        rest = [self.substitute(w) for w in rest]
        if program in CLI:
            return [sys.executable, "-m", "octollm.cli.main", *rest]
        if program == "psql":
            return ["psql", *rest]
        raise AssertionError(f"the walk cannot run {program!r}")

    # -- running ------------------------------------------------------------------------

    def run(self, line: str, words: list[str], env: dict[str, str], stdin: str = "") -> str:
        done = subprocess.run(
            self.argv(words), cwd=ROOT, env=env, input=stdin, capture_output=True, text=True,
            timeout=180, check=False,
        )  # fmt: skip
        assert done.returncode == 0, (line, done.stdout[-2000:], done.stderr[-3000:])
        self.ran.append(line)
        return done.stdout

    def start(self, line: str, words: list[str], env: dict[str, str]) -> None:
        """A long-running command: started in the background; it must come up and stay up."""
        log = self.stack.tmp / f"bg-{len(self.background)}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                self.argv(words), cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        self.background.append((proc, log))
        ports = {"flower": env.get("OCTOLLM_FLOWER__PORT", "")}
        if "--port" in words:
            ports[words[1]] = words[words.index("--port") + 1]
        port = ports.get(words[1])
        marker = {"worker": "ready.", "beat": "beat: starting"}.get(words[1], "")
        deadline = time.monotonic() + 120
        while not (listening(port) if port else marker in log.read_text(errors="replace").lower()):
            assert proc.poll() is None, (line, log.read_text()[-3000:])
            assert time.monotonic() < deadline, (line, log.read_text()[-3000:])
            time.sleep(0.2)
        self.ran.append(line)

    def stop(self) -> None:
        for proc, _ in self.background:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc, _ in self.background:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)

    # -- one shell line -----------------------------------------------------------------

    def line(self, line: str) -> None:
        for prefix in (*ELSEWHERE, *NOT_RUN):
            if line.startswith(prefix):
                if prefix.endswith("octollm run "):  # the other test runs this very goal
                    assert shlex.split(line)[2] == EMBEDDED_GOAL, line
                return
        loop = re.fullmatch(r"for (\w+) in ([\w ]+); do (.+) & done", line)
        if loop:
            for value in loop[2].split():
                self.values[loop[1]] = value
                self.line(f"{loop[3]} &")
            return
        capture = re.fullmatch(r"(\w+)=\$\((.+)\)", line)
        if capture:
            self.values[capture[1]] = self.run(line, shlex.split(capture[2]), self.env).strip()
            return
        words = shlex.split(line)
        if words[0] == "export":
            name, value = words[1].split("=", 1)
            self.env[name] = self.stack_value(name, value)
            return
        env = dict(self.env)
        while "=" in words[0] and not words[0].startswith("-"):
            name, value = words.pop(0).split("=", 1)
            env[name] = value
        background = words[-1] == "&"
        if background:
            words.pop()
        words = self.with_ports(words, env)
        if words[0] in CLI and words[1] in LONG_RUNNING:
            self.start(line, words, env)
            return
        assert not background, f"the walk cannot run {line!r} in the background"
        stdin = "y\n" if words[1:3] == ["queues", "purge"] else ""  # "asks first": we answer
        out = self.run(line, words, env, stdin)
        self.remember(words, out, env)

    def with_ports(self, words: list[str], env: dict[str, str]) -> list[str]:
        """Fixed ports the README uses (8000, Flower's 5555) become free ones: other tests run."""
        if words[1:2] == ["api"] and "--port" in words:
            words[words.index("--port") + 1] = str(free_port())
        if words[1:2] == ["flower"]:
            env["OCTOLLM_FLOWER__PORT"] = str(free_port())
        return words

    def remember(self, words: list[str], out: str, env: dict[str, str]) -> None:
        """Ids a command created, for the README's placeholders further down."""
        if words[1:3] == ["webhooks", "register"]:
            self.values["wh-0123abcd"] = re.search(r"registered (wh-\w+)", out)[1]  # type: ignore[index]
        if words[1] == "submit":
            self.values["task-…"] = out.strip().splitlines()[-1]
        if words[1:3] == ["keys", "create"]:
            tenant = words[words.index("--tenant") + 1]
            argv = [words[0], "keys", "list", "--tenant", tenant, "--json"]
            listed = self.run("keys list", argv, env)
            self.values["key_0123456789ab"] = json.loads(listed)[0]["key_id"]  # newest first


@pytest.fixture
def walk(tmp_path: Path) -> Iterator[Walk]:
    with webhook_receiver() as receiver, live_stack(tmp_path) as stack:
        env = {k: v for k, v in stack.env().items() if not k.startswith("OCTOLLM_")}
        # The stack's isolation (its queue prefix and data dir); the services come from the
        # README's own export lines, pointed at the stack:
        for name in ("OCTOLLM_QUEUE_PREFIX", "OCTOLLM_DATA_DIR"):
            env[name] = stack.env()[name]
        env["COLUMNS"] = "200"
        env["OCTOLLM_WEBHOOKS__ALLOWLIST"] = json.dumps([receiver.host_port])
        w = Walk(stack, env, values={EXAMPLE_HOOK: receiver.url})
        try:
            yield w
        finally:
            w.stop()


def run_python_block(block: Block, walk: Walk) -> None:
    if block.text.startswith("from octollm.webhooks import"):
        check_webhook_receiver(block.text)
        walk.ran.append(block.text.splitlines()[0])
        return
    raise AssertionError(f"README.md:{block.line}: a python block the walk does not know")


def check_webhook_receiver(code: str) -> None:
    """The receiver as written: a signed delivery is 200, its replay acked 200, a forgery 401."""
    from octollm.webhooks.signing import signed_headers

    secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    handled: list[Any] = []
    scope: dict[str, Any] = {"SECRET": secret, "handle": handled.append, "json": json}
    exec(compile(code, "README.md", "exec"), scope)  # noqa: S102 - the README's own code
    body = json.dumps({"event_id": "e1", "event_type": "task.completed"})
    headers = signed_headers(secret, event_id="e1", event_type="task.completed", body=body.encode())
    assert scope["receive"](headers, body) == 200
    assert handled == [json.loads(body)]
    assert scope["receive"](headers, body) == 200  # a replay: acked, not handled again
    assert len(handled) == 1
    assert scope["receive"]({**headers, "webhook-signature": "v1,AAAA"}, body) == 401


def test_the_readme_top_to_bottom_as_written(walk: Walk, tmp_path: Path) -> None:
    for block in readme_blocks():
        first = block.text.strip().splitlines()[0] if block.text.strip() else ""
        if any(first.startswith(p) for p in BLOCKS_ELSEWHERE):
            continue
        if block.lang in ("bash", "sh", "shell", "console"):
            for line in shell_lines(block.text):
                walk.line(line)
        elif block.lang == "python":
            run_python_block(block, walk)
        elif block.lang == "json":
            plan = tmp_path / "plan.json"
            plan.write_text(block.text)
            task = walk.run("submit --plan", [CLI[0], "submit", "--plan", str(plan)], walk.env)
            assert task.strip().startswith("task-"), task
        else:
            raise AssertionError(f"README.md:{block.line}: a {block.lang!r} block the walk skips")
    # the screening policy the README exports last is one the settings accept
    shown = walk.run("config show", [CLI[0], "config", "show", "--json"], walk.env)
    assert "acme" in shown, shown[-2000:]
    # the walk reached the commands that matter (a sanity check on the parsing above)
    for expected in ("octollm migrate", "octollm tasks list", "octollm workers", "keys revoke"):
        assert any(expected in line for line in walk.ran), walk.ran
