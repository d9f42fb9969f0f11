"""Why a step delivery ended as it did: the reason an ``Outcome`` carries, as an enum.

The step runner answers every delivery with an outcome (``done``, ``noop``, ``retry`` or
``failed``) and its reason; the Celery adapter decides on the reason (a ``busy`` retry keeps
its token), never on a parsed string. ``Outcome.detail`` is only the text the task's Celery
result shows (``refused:expired``, ``unclaimable:pending``, an error code).
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["OutcomeReason"]


class OutcomeReason(StrEnum):
    #: the arm ran and its output was recorded
    RECORDED = "recorded"
    #: the arm raised: ``code`` names the error (failed, or retried with backoff)
    ERROR = "error"
    #: the step is already finished (a redelivery or a lost ack)
    DUPLICATE = "duplicate"
    #: the message belongs to an older generation of the task (a re-drive replaced it)
    STALE = "stale"
    #: no such step row
    MISSING = "missing"
    #: the task was cancelled or has ended: the step was settled without running
    TASK_FINISHED = "task-finished"
    #: a dependency has not finished (a premature chord body; the reconciler covers it)
    NOT_READY = "not-ready"
    #: every attempt was used and nothing is left to record
    EXHAUSTED = "exhausted"
    #: the step's last attempt died with its worker: it went to the dead-letter store
    DEAD_LETTERED = "dead-lettered"
    #: another delivery took the step over while this attempt ran: its output was dropped
    LEASE_LOST = "lease-lost"
    #: the task was cancelled while the step ran
    CANCELLED = "cancelled"
    #: the message's capability token was refused (``code`` names the refusal kind)
    REFUSED = "refused"
    #: the step is in a state no claim can take (``code`` names the status)
    UNCLAIMABLE = "unclaimable"
    #: the step runs elsewhere under a live lease: retried when that lease would expire
    BUSY = "busy"
