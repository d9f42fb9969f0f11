"""Every table octollm owns, collected for Alembic's autogenerate and for tests."""

from __future__ import annotations

from octollm.store.models import Base
import octollm.memory.graph_models  # noqa: F401  (registers entities, relationships)

metadata = Base.metadata

__all__ = ["metadata"]
