"""Shared fixtures. Real services only: see tests/support/services.py for skip/fail rules."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.arms import PLUGINS

# The test process must know the test arms too (plans are validated against the registry).
os.environ.setdefault("OCTOLLM_ARM_PLUGINS", PLUGINS)

from tests.support.stack import (
    LiveStack,
    live_stack,
    make_runtime,
)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LiveStack]:
    with live_stack(tmp_path) as s:
        yield s


@pytest.fixture
def runtime(stack: LiveStack) -> Any:
    rt = make_runtime(stack)
    yield rt
    rt.db.dispose()
