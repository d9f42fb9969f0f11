"""Reading a task's event streams in tests, which know the task id but not always its tenant."""

from __future__ import annotations

from typing import Any

from octollm.events.bus import task_stream_key


def _id(entry_id: Any) -> tuple[int, int]:
    text = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


def stream_entries(client: Any, task_id: str) -> list[Any]:
    """``XRANGE`` of every stream of ``task_id`` (one per tenant that published for it; normally
    just the task row's), merged in stream-id order; empty when there is none."""
    keys = sorted(client.scan_iter(match=task_stream_key("*", task_id), count=1000))
    entries = [entry for key in keys for entry in client.xrange(key)]
    return sorted(entries, key=lambda entry: _id(entry[0]))
