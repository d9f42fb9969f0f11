"""Typed settings (pydantic-settings); never built at import time."""

from octollm.config.settings import Settings, get_settings

__all__ = ["Settings", "get_settings"]
