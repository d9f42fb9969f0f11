"""Celery settings for octollm, derived from the typed settings (``OCTOLLM_*``).

Deployment-editable: override any Celery setting below the ``globals().update`` line, e.g.
``worker_max_tasks_per_child = 500``. JSON stays the only serializer.
"""

from octollm.config import get_settings
from octollm.orchestrator.broker.config import build

globals().update(build(get_settings()))

# Deployment overrides go here.
