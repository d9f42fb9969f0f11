"""Documents into (and out of) a tenant's knowledge base, for the API and the CLI alike.

``add`` records the document (``store.documents``) and submits one task whose explicit plan is
a single retriever step ``op: ingest``: the chunking and embedding run on the retriever pool,
never in the calling process, with the task's durability (retries, dead letters, status,
events, Flower). The tenant is the caller's (an API key's, or the CLI's ``--tenant``); the
worker binds the knowledge base to the task row's tenant, so the chunks land in that tenant's
corpus only. Each chunk carries ``metadata.document_id`` and ``metadata.title``, which the
retriever's citations repeat.

``remove`` hides the document at once and submits a retriever ``op: forget`` task that deletes
its chunks.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from octollm.contracts import TaskContract
from octollm.contracts.arm_io import DEFAULT_COLLECTION
from octollm.memory.readers import ReadDocument
from octollm.orchestrator.engine import lifecycle
from octollm.orchestrator.runtime import Runtime
from octollm.store import documents as document_repo
from octollm.store.documents import INGEST_STEP, DocumentRow

INGEST_TIME_SECONDS = 900  # embedding a 2 MB document on one CPU core takes minutes


def new_document_id() -> str:
    return f"doc-{uuid.uuid4()}"


def _contract(goal: str, step_input: dict[str, Any], priority: str, step_id: str) -> TaskContract:
    plan = {
        "steps": [{"step_id": step_id, "arm": "retriever", "action": goal, "input": step_input}]
    }
    return TaskContract.model_validate(
        {
            "goal": goal,
            "plan": plan,
            "priority": priority,
            "budget": {"max_time_seconds": INGEST_TIME_SECONDS},
            "metadata": {"kind": "knowledge"},
        }
    )


def add(
    rt: Runtime,
    tenant: str,
    document: ReadDocument,
    *,
    filename: str | None,
    size_bytes: int,
    collection: str = DEFAULT_COLLECTION,
    priority: str = "medium",
) -> DocumentRow:
    """Record ``document`` for ``tenant`` and queue its ingest on the retriever pool."""
    document_id = new_document_id()
    source = filename or document.title
    step_input = {
        "op": "ingest",
        "collection": collection,
        "replace": False,  # a document is its own id; deleting it removes its chunks
        "documents": [
            {
                "source": source[:500],
                "text": document.text,
                "metadata": {"document_id": document_id, "title": document.title},
            }
        ],
    }
    goal = f"Ingest the document {document.title[:200]!r} into the knowledge base"
    contract = _contract(goal, step_input, priority, INGEST_STEP)
    row = DocumentRow(
        id=document_id,
        tenant=tenant,
        title=document.title,
        filename=filename,
        media_type=document.media_type,
        size_bytes=size_bytes,
        chars=len(document.text),
        sha256=hashlib.sha256(document.text.encode()).hexdigest(),
        collection=collection,
        task_id=contract.task_id,
    )
    with rt.db.session() as session:
        document_repo.add(session, row)
    try:
        lifecycle.submit(rt, contract, tenant=tenant)
    except BaseException:
        with rt.db.session() as session:
            document_repo.mark_deleted(session, tenant, document_id)
        raise
    return row


def remove(rt: Runtime, tenant: str, document_id: str) -> str | None:
    """Hide ``document_id`` and queue the deletion of its chunks; the forget task's id, or
    None when the tenant has no such document."""
    with rt.db.session() as session:
        row = document_repo.mark_deleted(session, tenant, document_id)
        collection = row.collection if row is not None else None
    if collection is None:
        return None
    step_input = {"op": "forget", "document_ids": [document_id], "collection": collection}
    contract = _contract(
        f"Delete the document {document_id} from the knowledge base", step_input, "medium", "forget"
    )
    lifecycle.submit(rt, contract, tenant=tenant)
    with rt.db.session() as session:
        document_repo.set_forget_task(session, tenant, document_id, contract.task_id)
    return contract.task_id
