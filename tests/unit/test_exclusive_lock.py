"""The machine's test lock (tests/support/exclusive.py): ordinary tests share it, an exclusive
test has it alone, and a waiting exclusive test is not starved by newcomers."""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path

import pytest

from tests.support import exclusive


@pytest.fixture
def lock_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # a lock of its own: this test already holds the machine's lock (tests/conftest.py)
    monkeypatch.setenv("OCTOLLM_TEST_LOCK_DIR", str(tmp_path))
    return tmp_path


def could_take(path: Path, mode: int) -> bool:
    """Whether another holder could take ``path`` in ``mode`` now (a new open file
    description conflicts with ours as another process's would)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return True
    finally:
        os.close(fd)


def test_ordinary_tests_share_the_lock_and_keep_an_exclusive_one_out(lock_dir: Path) -> None:
    lock = lock_dir / "octollm-tests.lock"
    with exclusive.holding(False):
        assert could_take(lock, fcntl.LOCK_SH)
        assert not could_take(lock, fcntl.LOCK_EX)
    with exclusive.holding(True):
        assert not could_take(lock, fcntl.LOCK_SH)
    assert could_take(lock, fcntl.LOCK_EX), "released on exit"


def test_a_waiting_exclusive_test_holds_newcomers_back_until_it_has_run(lock_dir: Path) -> None:
    reader_in, reader_out, writer_done = threading.Event(), threading.Event(), threading.Event()
    order: list[str] = []

    def reader() -> None:
        with exclusive.holding(False):
            reader_in.set()
            reader_out.wait(30)
            order.append("reader")

    def writer() -> None:
        with exclusive.holding(True):
            order.append("writer")
        writer_done.set()

    threads = [threading.Thread(target=reader)]
    threads[0].start()
    assert reader_in.wait(30)
    threads.append(threading.Thread(target=writer))
    threads[1].start()
    turnstile = lock_dir / "octollm-tests.turnstile"
    pause = threading.Event()
    while could_take(turnstile, fcntl.LOCK_EX):  # until the writer queues at the turnstile
        assert threads[1].is_alive()
        pause.wait(0.01)
    assert not could_take(turnstile, fcntl.LOCK_EX), "a newcomer would wait behind the writer"
    assert order == []
    reader_out.set()
    assert writer_done.wait(30)
    for thread in threads:
        thread.join(30)
    assert order == ["reader", "writer"]
