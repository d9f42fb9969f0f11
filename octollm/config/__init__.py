"""Typed settings (pydantic-settings): one root, ``Settings``; never built at import time.

``octollm config show`` prints the effective values and their sources; ``docs/configuration.md``
lists every variable (generated from the model by ``octollm config docs``).
"""

from octollm.config.api import ApiSettings
from octollm.config.settings import Settings, get_settings

__all__ = ["ApiSettings", "Settings", "get_settings"]
