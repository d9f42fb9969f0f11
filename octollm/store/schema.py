"""Every table octollm owns, collected for Alembic's autogenerate and for tests."""

from __future__ import annotations

import octollm.memory.graph_models  # noqa: F401  (registers entities, relationships)
from octollm.store.models import Base

metadata = Base.metadata

__all__ = ["metadata"]
