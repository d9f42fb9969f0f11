"""Pure pieces of recovery: the isolation gate and the derived visibility timeout."""

from __future__ import annotations

import threading
import time

from octollm.config import Settings
from octollm.config.settings import BrokerSettings, OrchestratorSettings
from octollm.orchestrator.broker.config import visibility_timeout
from octollm.orchestrator.recovery.isolation import Gate


def test_a_suspect_waits_for_running_steps_and_holds_new_ones_back_while_it_runs() -> None:
    gate = Gate()
    timeline: list[str] = []
    lock = threading.Lock()
    running_first = threading.Event()

    def note(what: str) -> None:
        with lock:
            timeline.append(what)

    def healthy(name: str, hold: float, started: threading.Event | None = None) -> None:
        with gate.shared():
            note(f"{name} start")
            if started is not None:
                started.set()
            time.sleep(hold)
            note(f"{name} end")

    def suspect() -> None:
        with gate.shared(), gate.alone():
            note("suspect start")
            time.sleep(0.2)
            note("suspect end")

    first = threading.Thread(target=healthy, args=("first", 0.3, running_first))
    first.start()
    running_first.wait(5)
    alone = threading.Thread(target=suspect)
    alone.start()
    time.sleep(0.05)  # the suspect is waiting for "first"; a newcomer must wait behind it
    later = threading.Thread(target=healthy, args=("later", 0.0))
    later.start()
    for t in (first, alone, later):
        t.join(5)
    assert timeline == [
        "first start",
        "first end",
        "suspect start",
        "suspect end",
        "later start",
        "later end",
    ]


def test_two_suspects_in_one_process_run_one_after_the_other() -> None:
    gate = Gate()
    inside = 0
    most = 0
    lock = threading.Lock()

    def suspect() -> None:
        nonlocal inside, most
        with gate.shared(), gate.alone():
            with lock:
                inside += 1
                most = max(most, inside)
            time.sleep(0.05)
            with lock:
                inside -= 1

    threads = [threading.Thread(target=suspect) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert not any(t.is_alive() for t in threads)
    assert most == 1


def test_the_visibility_timeout_follows_the_longest_step_limit_unless_set() -> None:
    default = Settings(broker=BrokerSettings(url="redis://127.0.0.1:6379/0"))  # type: ignore[arg-type]
    assert 900 < visibility_timeout(default) < 7200
    longer = Settings(
        broker=BrokerSettings(url="redis://127.0.0.1:6379/0"),  # type: ignore[arg-type]
        orchestrator=OrchestratorSettings(step_time_limit_seconds=3600),
    )
    assert visibility_timeout(longer) > 3600 + 60
    pinned = Settings(
        broker=BrokerSettings(url="redis://127.0.0.1:6379/0", visibility_timeout_seconds=7200)  # type: ignore[arg-type]
    )
    assert visibility_timeout(pinned) == 7200
