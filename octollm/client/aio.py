"""``AsyncOctoClient``: the asyncio client, method for method the same as ``OctoClient``.

async with AsyncOctoClient("http://127.0.0.1:8000", api_key="octo_...") as client:
    accepted = await client.submit("Summarise the incident report in five bullet points")
    async for event in client.stream(accepted.task_id):
        print(event.event_type)
    task = await client.wait_for_completion(accepted.task_id, timeout=120)
"""

from __future__ import annotations

import asyncio
import builtins
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import httpx
from tenacity import AsyncRetrying

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


class AsyncOctoClient:
    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        max_retries: int = 3,
        max_retry_wait: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers=wire.base_headers(api_key),
            timeout=timeout,
            transport=transport,
        )
        self._retry = wire.retry_options(max_retries, max_retry_wait)

    async def __aenter__(self) -> AsyncOctoClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        async for attempt in AsyncRetrying(**self._retry):
            with attempt:
                response = await self._http.request(method, url, **kwargs)
                if response.status_code in (429, 503):
                    wire.check(response)
                return response
        raise AssertionError("unreachable")  # pragma: no cover

    async def submit(
        self,
        goal: str,
        *,
        plan: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        use_cache: bool = True,
        request_id: str | None = None,
        **fields: Any,
    ) -> TaskAccepted:
        body = wire.submission(goal, {"plan": plan, **fields})
        headers = wire.submit_headers(idempotency_key, use_cache, request_id)
        response = await self._request("POST", f"{wire.API}/tasks", json=body, headers=headers)
        return wire.decode(response, TaskAccepted)

    async def get(self, task_id: str) -> Task:
        return wire.decode(await self._request("GET", f"{wire.API}/tasks/{task_id}"), Task)

    async def list(
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
        response = await self._request("GET", f"{wire.API}/tasks", params=params)
        return wire.decode(response, TaskPage)

    async def iter_tasks(self, **filters: Any) -> AsyncIterator[TaskSummary]:
        cursor: str | None = None
        while True:
            page = await self.list(cursor=cursor, **filters)
            for item in page.items:
                yield item
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    async def cancel(self, task_id: str) -> Task:
        response = await self._request("POST", f"{wire.API}/tasks/{task_id}/cancel")
        return wire.decode(response, Task)

    async def resume(self, task_id: str) -> Task:
        response = await self._request("POST", f"{wire.API}/tasks/{task_id}/resume")
        return wire.decode(response, Task)

    async def steps(self, task_id: str) -> builtins.list[Step]:
        response = await self._request("GET", f"{wire.API}/tasks/{task_id}/steps")
        wire.check(response)
        return [Step.model_validate(s) for s in response.json()["steps"]]

    async def submit_batch(self, tasks: builtins.list[dict[str, Any]]) -> Batch:
        response = await self._request("POST", f"{wire.API}/batches", json={"tasks": tasks})
        return wire.decode(response, Batch)

    async def get_batch(self, batch_id: str) -> Batch:
        return wire.decode(await self._request("GET", f"{wire.API}/batches/{batch_id}"), Batch)

    async def wait_for_completion(
        self, task_id: str, timeout: float = 300.0, poll_interval: float = 1.0
    ) -> Task:
        deadline = time.monotonic() + timeout
        while True:
            task = await self.get(task_id)
            if task.terminal:
                return task
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WaitTimeout(task_id, task.status, timeout)
            await asyncio.sleep(min(poll_interval, remaining))

    async def stream(
        self,
        task_id: str,
        *,
        last_event_id: str | None = None,
        reconnects: int = 5,
        read_timeout: float = 60.0,
    ) -> AsyncIterator[TaskEvent]:
        last = last_event_id
        failures = 0
        while True:
            headers = {"Accept": "text/event-stream"}
            if last:
                headers["Last-Event-ID"] = last
            try:
                async with self._http.stream(
                    "GET",
                    f"{wire.API}/tasks/{task_id}/events",
                    headers=headers,
                    timeout=httpx.Timeout(read_timeout, connect=10.0),
                ) as response:
                    if response.status_code >= 400:
                        await response.aread()
                        wire.check(response)
                    decoder = SSEDecoder()
                    async for line in response.aiter_lines():
                        sse = decoder.feed(line)
                        if sse is None:
                            continue
                        if sse.event == "end":
                            return
                        failures = 0
                        if sse.id:
                            last = sse.id
                        yield TaskEvent.from_sse(sse.id, sse.event, sse.data)
                raise httpx.RemoteProtocolError("the stream ended before the task did")
            except _STREAM_DROPS:
                failures += 1
                if failures > reconnects:
                    raise
                await asyncio.sleep(min(0.2 * 2**failures, 5.0))
