"""structlog, configured once per process; stdlib loggers routed through the same processors."""

from octollm.logging.setup import bind_unit_of_work, configure_logging, get_logger

__all__ = ["bind_unit_of_work", "configure_logging", "get_logger"]
