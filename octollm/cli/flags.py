"""``--help`` without ``<bool>``: typer renders every flag's type (``--json <bool>``), which
reads as if the flag took a value. :func:`plain_flags` blanks the type column of on/off flags
in a command tree once, before the command runs."""

from __future__ import annotations

from typing import Any


def plain_flags(command: Any) -> Any:
    """``command`` and its subcommands, their flags shown without a type; returns it."""
    for param in getattr(command, "params", ()):
        _plain(param)
    help_option = command.get_help_option  # --help is made per context: blank it there too
    command.get_help_option = lambda ctx: _plain(help_option(ctx))
    for sub in getattr(command, "commands", {}).values():
        plain_flags(sub)
    return command


def _plain(param: Any) -> Any:
    if getattr(param, "is_flag", False) and not getattr(param, "count", False):
        param.metavar = ""
    return param
