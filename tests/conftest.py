"""Shared fixtures. Real services only: see tests/support/services.py for skip/fail rules."""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.arms import PLUGINS

# The test process must know the test arms too (plans are validated against the registry).
os.environ.setdefault("OCTOLLM_ARM_PLUGINS", PLUGINS)

from tests.support import exclusive, session
from tests.support.fleet import SharedFleet
from tests.support.stack import (
    LiveStack,
    live_stack,
    make_runtime,
)


def _xdist_controller(config: pytest.Config) -> bool:
    """The ``pytest -n N`` process that only hands tests to its workers (it runs none)."""
    return not hasattr(config, "workerinput") and bool(getattr(config.option, "numprocesses", 0))


def pytest_configure(config: pytest.Config) -> None:
    # this session's own redis-server and template database (tests/support/session.py); under
    # pytest-xdist every worker is a session of its own, with its own Redis, database and fleet
    if not _xdist_controller(config):
        session.start()


def pytest_unconfigure(config: pytest.Config) -> None:
    session.stop()


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, None, None]:
    """Every test holds the machine's test lock (tests/support/exclusive.py): shared, or
    exclusive with ``@pytest.mark.exclusive``. Taken outside pytest-timeout's clock."""
    with exclusive.holding(item.get_closest_marker("exclusive") is not None):
        yield


@pytest.fixture(scope="session")
def shared_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedFleet]:
    fleet = SharedFleet(tmp_path_factory.mktemp("fleet"))
    yield fleet
    fleet.close()


@pytest.fixture
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LiveStack]:
    """The default stack: borrows the session's shared fleet (tests/support/fleet.py).
    ``@pytest.mark.own_stack`` gives the test a fresh database and its own workers instead."""
    if request.node.get_closest_marker("own_stack"):
        with live_stack(tmp_path) as own:
            yield own
        return
    fleet: SharedFleet = request.getfixturevalue("shared_fleet")
    yield from fleet.lend()


@pytest.fixture
def runtime(stack: LiveStack) -> Any:
    rt = make_runtime(stack)
    yield rt
    rt.db.dispose()
