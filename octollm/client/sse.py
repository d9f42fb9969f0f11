"""A sans-I/O Server-Sent Events decoder (WHATWG rules): feed lines, get events."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServerSentEvent:
    event: str
    data: str
    id: str | None
    retry: int | None = None


class SSEDecoder:
    def __init__(self) -> None:
        self._event = ""
        self._data: list[str] = []
        self._id: str | None = None
        self._retry: int | None = None
        self.last_event_id: str | None = None

    def feed(self, line: str) -> ServerSentEvent | None:
        """One line without its terminator; returns an event when a blank line ends one."""
        if line == "":
            if not self._data and not self._event and self._id is None:
                self._retry = None
                return None
            event = ServerSentEvent(
                self._event or "message", "\n".join(self._data), self._id, self._retry
            )
            if self._id is not None:
                self.last_event_id = self._id
            self._event, self._data, self._id, self._retry = "", [], None, None
            return event
        if line.startswith(":"):
            return None  # a comment: keepalive
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id" and "\0" not in value:
            self._id = value
        elif name == "retry" and value.isdigit():
            self._retry = int(value)
        return None
