"""The API's knobs: ``Settings.api`` (``OCTOLLM_API__*``), declared in ``octollm.config.api``.

Re-exported here for the edge's modules; build them with ``Settings().api`` (which reads the
environment) or ``ApiSettings(...)`` (which does not).
"""

from octollm.config.api import ApiSettings, RateLimits, RateSpec, TenantPolicy
from octollm.config.screening import Screening

__all__ = ["ApiSettings", "RateLimits", "RateSpec", "Screening", "TenantPolicy"]
