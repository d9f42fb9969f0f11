"""Live progress for ``octollm run``: a step tree with status, elapsed time and tokens."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from rich.console import Group
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from octollm.contracts.status import TERMINAL_STEP_STATUSES

STYLE = {
    "pending": ("·", "dim"),
    "queued": ("○", "dim"),
    "running": ("◐", "yellow"),
    "succeeded": ("✔", "green"),
    "failed": ("✘", "red"),
    "skipped": ("↷", "dim"),
    "cancelled": ("⊘", "magenta"),
}


def _elapsed(step: dict[str, Any]) -> str:
    if step["duration_ms"] is not None:
        return f"{step['duration_ms'] / 1000:.1f}s"
    if step["started_at"]:
        started = datetime.fromisoformat(step["started_at"])
        return f"{(datetime.now(UTC) - started).total_seconds():.1f}s"
    return ""


def _findings(output: Any) -> Text:
    """The results of a step's call checks (executor); the judge's verdict is printed after
    the run, with the code and the output."""
    text = Text()
    if not isinstance(output, dict):
        return text
    for check in output.get("checks") or []:
        if not isinstance(check, dict):
            continue
        if "error" in check:
            error = str(check["error"])[:120]
            text.append(f"\n    {check.get('call')} raised {error}", style="red")
        else:
            text.append(f"\n    {check.get('call')} -> {str(check.get('result'))[:120]}")
    return text


def round_line(round_: dict[str, Any]) -> Text:
    """One line per repair round or replan, above the steps it queued."""
    if round_["kind"] == "replan":
        what = f"replan {round_['round']}: {round_.get('reason', '')[:140]}"
    else:
        failed = ", ".join(round_.get("failed_criteria") or []) or round_.get("reason", "")[:140]
        what = (
            f"round {round_['round']} {round_.get('verdict')}: repair "
            f"{round_.get('target_step')} ({failed[:140]})"
        )
    return Text.assemble(("↻ ", "magenta"), (what, "magenta"))


def render(
    record: dict[str, Any] | None, started: float, phase: str, *, elapsed: float | None = None
) -> Group:
    """The step tree and a progress bar; ``elapsed`` (a finished task's) overrides the clock."""
    header = Text.assemble(("octollm ", "bold cyan"), (phase, "bold"))
    if record is None:
        return Group(header)
    steps = record["steps"]
    done = sum(1 for s in steps if s["status"] in TERMINAL_STEP_STATUSES)
    tree = Tree(Text.assemble((record["task_id"], "bold"), "  ", (record["status"], "cyan")))
    opened = {r["steps"][0]: r for r in record.get("rounds") or [] if r.get("steps")}
    for s in steps:
        if s["step_id"] in opened:
            tree.add(round_line(opened[s["step_id"]]))
        mark, style = STYLE.get(s["status"], ("?", ""))
        line = Text.assemble(
            (f"{mark} ", style), (s["step_id"], "bold"), f"  [{s['arm']}] ", (s["status"], style)
        )
        extras = [_elapsed(s)]
        if s["attempts"] > 1:
            extras.append(f"attempt {s['attempts']}")
        if s["tokens"]:
            extras.append(f"{s['tokens']} tok")
        line.append("  " + "  ".join(e for e in extras if e), style="dim")
        if s["error"] and s["status"] in ("failed", "queued"):
            line.append(
                f"\n    {s['error'].get('code')}: {s['error'].get('message', '')[:160]}",
                style="red",
            )
        line.append_text(_findings(s.get("output")))
        tree.add(line)
    bar = Table.grid(padding=(0, 1))
    bar.add_row(
        ProgressBar(total=max(len(steps), 1), completed=done, width=30),
        Text(
            f"{done}/{len(steps)} steps  "
            f"{elapsed if elapsed is not None else time.monotonic() - started:.1f}s  "
            f"{record['tokens_used']} tokens"
        ),
    )
    return Group(header, tree, bar)
