"""Reading a task's event stream in tests, which know the task id but not always its tenant."""

from __future__ import annotations

from typing import Any

from octollm.events.bus import task_stream_key


def task_stream(client: Any, task_id: str) -> str:
    """The stream key of ``task_id`` under whichever tenant wrote it (the key names the tenant)."""
    found = sorted(client.scan_iter(match=task_stream_key("*", task_id), count=1000))
    if len(found) > 1:
        raise AssertionError(f"task {task_id} has streams under several tenants: {found}")
    if found:
        key = found[0]
        return key.decode() if isinstance(key, bytes) else str(key)
    return task_stream_key("-", task_id)


def stream_entries(client: Any, task_id: str) -> list[Any]:
    """``XRANGE`` of the task's stream (empty when it has none)."""
    return list(client.xrange(task_stream(client, task_id)))
