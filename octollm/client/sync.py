"""``OctoClient``: the blocking Python client.

with OctoClient("http://127.0.0.1:8000", api_key="octo_...") as client:
    accepted = client.submit("Summarise the incident report in five bullet points")
    for event in client.stream(accepted.task_id):
        print(event.event_type)
    task = client.wait_for_completion(accepted.task_id, timeout=120)
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
from tenacity import Retrying

from octollm.client import wire
from octollm.client.errors import WaitTimeout
from octollm.client.models import (
    Batch,
    Step,
    Task,
    TaskAccepted,
    TaskEvent,
    TaskPage,
    TaskSummary,
)
from octollm.client.sse import SSEDecoder

_STREAM_DROPS = (httpx.RemoteProtocolError, httpx.ReadError, httpx.ReadTimeout, httpx.ConnectError)


class OctoClient:
    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        max_retries: int = 3,
        max_retry_wait: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers=wire.base_headers(api_key),
            timeout=timeout,
            transport=transport,
        )
        self._retry = wire.retry_options(max_retries, max_retry_wait)

    def __enter__(self) -> OctoClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        for attempt in Retrying(**self._retry):
            with attempt:
                response = self._http.request(method, url, **kwargs)
                if response.status_code in (429, 503):
                    wire.check(response)
                return response
        raise AssertionError("unreachable")  # pragma: no cover

    # -- tasks --------------------------------------------------------------------------------

    def submit(
        self,
        goal: str,
        *,
        plan: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        use_cache: bool = True,
        request_id: str | None = None,
        **fields: Any,
    ) -> TaskAccepted:
        """Queue a task: a goal to plan, or a goal with an explicit ``plan``. Other
        ``TaskContract`` fields (priority, constraints, context, budget...) go in ``fields``."""
        body = wire.submission(goal, {"plan": plan, **fields})
        headers = wire.submit_headers(idempotency_key, use_cache, request_id)
        response = self._request("POST", f"{wire.API}/tasks", json=body, headers=headers)
        return wire.decode(response, TaskAccepted)

    def get(self, task_id: str) -> Task:
        return wire.decode(self._request("GET", f"{wire.API}/tasks/{task_id}"), Task)

    def list(
        self,
        *,
        status: str | list[str] | None = None,
        priority: str | list[str] | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        limit: int = 20,
        cursor: str | None = None,
    ) -> TaskPage:
        params = wire.list_params(status, priority, created_after, created_before, limit, cursor)
        return wire.decode(self._request("GET", f"{wire.API}/tasks", params=params), TaskPage)

    def iter_tasks(self, **filters: Any) -> Iterator[TaskSummary]:
        """Every task matching ``filters`` (as for ``list``), following the cursor."""
        cursor: str | None = None
        while True:
            page = self.list(cursor=cursor, **filters)
            yield from page.items
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    def cancel(self, task_id: str) -> Task:
        return wire.decode(self._request("POST", f"{wire.API}/tasks/{task_id}/cancel"), Task)

    def resume(self, task_id: str) -> Task:
        return wire.decode(self._request("POST", f"{wire.API}/tasks/{task_id}/resume"), Task)

    def steps(self, task_id: str) -> builtins.list[Step]:
        response = self._request("GET", f"{wire.API}/tasks/{task_id}/steps")
        wire.check(response)
        return [Step.model_validate(s) for s in response.json()["steps"]]

    def submit_batch(self, tasks: builtins.list[dict[str, Any]]) -> Batch:
        response = self._request("POST", f"{wire.API}/batches", json={"tasks": tasks})
        return wire.decode(response, Batch)

    def get_batch(self, batch_id: str) -> Batch:
        return wire.decode(self._request("GET", f"{wire.API}/batches/{batch_id}"), Batch)

    def wait_for_completion(
        self, task_id: str, timeout: float = 300.0, poll_interval: float = 1.0
    ) -> Task:
        """Poll until the task is completed, failed or cancelled; ``WaitTimeout`` otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            task = self.get(task_id)
            if task.terminal:
                return task
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WaitTimeout(task_id, task.status, timeout)
            time.sleep(min(poll_interval, remaining))

    # -- events -------------------------------------------------------------------------------

    def stream(
        self,
        task_id: str,
        *,
        last_event_id: str | None = None,
        reconnects: int = 5,
        read_timeout: float = 60.0,
    ) -> Iterator[TaskEvent]:
        """The task's events until it finishes. A dropped connection is resumed from the last
        event seen (``Last-Event-ID``), so no event is lost or repeated."""
        last = last_event_id
        failures = 0
        while True:
            headers = {"Accept": "text/event-stream"}
            if last:
                headers["Last-Event-ID"] = last
            try:
                with self._http.stream(
                    "GET",
                    f"{wire.API}/tasks/{task_id}/events",
                    headers=headers,
                    timeout=httpx.Timeout(read_timeout, connect=10.0),
                ) as response:
                    if response.status_code >= 400:
                        response.read()
                        wire.check(response)
                    decoder = SSEDecoder()
                    for line in response.iter_lines():
                        sse = decoder.feed(line)
                        if sse is None:
                            continue
                        if sse.event == "end":
                            return
                        failures = 0
                        event = TaskEvent.from_sse(sse.id, sse.event, sse.data)
                        if sse.id:
                            last = sse.id
                        yield event
                raise httpx.RemoteProtocolError("the stream ended before the task did")
            except _STREAM_DROPS:
                failures += 1
                if failures > reconnects:
                    raise
                time.sleep(min(0.2 * 2**failures, 5.0))
