"""The embedded default services: PostgreSQL, Redis and a local LLM as real local processes.

``EmbeddedStack(settings)`` starts whichever of them the settings leave unconfigured and stops
them again on exit. Importing this package starts nothing.
"""

from __future__ import annotations

from octollm.embedded.stack import EmbeddedStack, install_signal_handlers

__all__ = ["EmbeddedStack", "install_signal_handlers"]
