"""A built wheel runs without the source tree: it is installed into a fresh virtualenv outside
the checkout (dependencies come from the test venv's site-packages, octollm only from the
wheel), and ``octollm migrate``, ``octollm fleet`` and one ``octollm worker`` work from there —
the migrations, the default fleet file and the dashboard's assets ship as package data."""

from __future__ import annotations

import os
import shutil
import signal
import site
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from tests.support import services, session
from tests.support.stack import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def test_the_wheel_migrates_lists_the_fleet_and_starts_a_worker_outside_the_checkout(
    tmp_path: Path,
) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(dist), str(source_copy(tmp_path / "src"))],
        check=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    (wheel,) = dist.glob("octollm-*.whl")
    shipped = set(zipfile.ZipFile(wheel).namelist())
    ui = ROOT / "octollm" / "api" / "ui"
    for asset in [ui / "index.html", *sorted((ui / "assets").iterdir())]:
        name = asset.relative_to(ROOT).as_posix()
        assert name in shipped, f"the dashboard's {name} is not in the wheel"
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True, timeout=300, env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )  # fmt: skip
    # Then third-party packages from the test venv (a plain path entry, after the venv's own:
    # its editable octollm finder is not loaded), so octollm itself comes from the wheel only.
    Path(purelib, "zz_deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    home = tmp_path / "elsewhere"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCTOLLM_")}
    env.pop("PYTHONPATH", None)
    database = session.database_name("wheel")
    env.update(
        OCTOLLM_DATABASE__URL=fresh_database_url(database),
        # the session's own redis-server (tests/support/session.py), never the machine's
        OCTOLLM_BROKER__URL=services.REDIS_URL.rsplit("/", 1)[0] + "/15",
        OCTOLLM_DATA_DIR=str(tmp_path / "data"),
        OCTOLLM_QUEUE_PREFIX=f"w{os.getpid()}",
    )
    octollm = str(venv / "bin" / "octollm")
    where = subprocess.run(
        [str(py), "-c", "import octollm; print(octollm.__file__)"],
        env=env, cwd=home, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    assert where.startswith(str(venv)), where

    migrated = subprocess.run([octollm, "migrate"], env=env, cwd=home, capture_output=True,
                              text=True, timeout=120)  # fmt: skip
    assert migrated.returncode == 0, migrated.stderr
    assert "migrated to" in migrated.stdout
    fleet = subprocess.run([octollm, "fleet"], env=env, cwd=home, capture_output=True,
                           text=True, timeout=60)  # fmt: skip
    assert fleet.returncode == 0, fleet.stderr
    assert str(venv) in fleet.stdout  # the shipped default fleet file
    assert "start with `octollm worker coder`" in fleet.stdout

    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [octollm, "worker", "orchestrator"],
            env=env, cwd=home, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while b"ready." not in log.read_bytes():
            assert worker.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.5)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(60)
        session.drop_database(database)


def source_copy(dest: Path) -> Path:
    """What the wheel is built from, copied: setuptools builds in the tree (``build/``,
    ``*.egg-info``), and another suite on the machine may be building the same checkout."""
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "octollm", dest / "octollm", ignore=skip)
    for name in ("pyproject.toml", "README.md", "celeryconfig.py"):
        shutil.copy2(ROOT / name, dest / name)
    return dest


def fresh_database_url(name: str) -> str:
    """An empty database: ``octollm migrate`` must find the migrations in the wheel."""
    session.drop_database(name)
    return services.database_url(name)
