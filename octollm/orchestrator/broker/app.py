"""The Celery application. Configuration is read lazily from the top-level ``celeryconfig``
module (deployment-editable), which reads the typed settings; nothing is built at import."""

from __future__ import annotations

from celery import Celery

app = Celery("octollm")
app.config_from_object("celeryconfig")

__all__ = ["app"]
