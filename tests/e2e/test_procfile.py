"""The shipped Procfile, started with ``honcho start`` as an operator would (service URLs in the
environment, nothing else): every process stays up for 60 s, a task submitted through the API
completes on the fleet it started, and Ctrl-C stops every process."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests.support.stack import ROOT, live_stack

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]
PROCESSES = [line.split(":", 1)[0] for line in (ROOT / "Procfile").read_text().splitlines() if line]
CODE = "print(sum(range(10)))"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_honcho_starts_the_procfile_runs_a_task_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    honcho = shutil.which("honcho", path=str(Path(sys.executable).parent))
    assert honcho is not None, "honcho is a dev dependency (pyproject.toml)"
    with live_stack(tmp_path, private_redis=True) as stack:
        api_port = free_port()
        env = stack.env()
        env.pop("OCTOLLM_ARM_PLUGINS")  # the shipped fleet serves the built-in arms only
        env.update(
            OCTOLLM_API_PORT=str(api_port),
            OCTOLLM_METRICS_PORT=str(free_port()),
            PATH=f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}",
        )
        made = subprocess.run(
            [sys.executable, "-m", "octollm.cli.main", "keys", "create", "--tenant", "ops",
             "--scope", "task:submit", "--scope", "task:read"],
            env=env, capture_output=True, text=True, check=True, timeout=120,
        )  # fmt: skip
        key = made.stdout.strip().splitlines()[-1]
        log = (tmp_path / "honcho.log").open("wb")
        proc = subprocess.Popen(
            [honcho, "start", "-f", str(ROOT / "Procfile"), "-d", str(ROOT)],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            base = f"http://127.0.0.1:{api_port}"
            headers = {"Authorization": f"Bearer {key}"}
            started = time.monotonic()
            task_id = None
            status = None
            with httpx.Client(base_url=base, headers=headers, timeout=10) as client:
                while time.monotonic() - started < 240:
                    assert proc.poll() is None, (tmp_path / "honcho.log").read_text()[-4000:]
                    try:
                        if task_id is None:
                            resp = client.post(
                                "/api/v1/tasks",
                                json={
                                    "goal": "add up the numbers below ten",
                                    "plan": {"steps": [{
                                        "step_id": "run", "arm": "executor", "action": "run",
                                        "input": {"language": "python", "code": CODE},
                                    }]},
                                },
                            )  # fmt: skip
                            assert resp.status_code == 202, resp.text
                            task_id = resp.json()["task_id"]
                        status = client.get(f"/api/v1/tasks/{task_id}").json()["status"]
                        if status in {"completed", "failed", "cancelled"} and (
                            time.monotonic() - started > 60
                        ):
                            break
                    except httpx.TransportError:
                        pass  # the API is still starting
                    time.sleep(1)
            assert status == "completed", (tmp_path / "honcho.log").read_text()[-4000:]
            assert proc.poll() is None, "a Procfile process exited and honcho stopped the rest"
            children = psutil.Process(proc.pid).children(recursive=True)
            assert len(children) >= len(PROCESSES)
        finally:
            os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in the terminal: the whole group
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                raise
            log.close()
        _, alive = psutil.wait_procs(children, timeout=30)
        assert not alive, [p.pid for p in alive]
