"""``/api/v1/knowledge/documents``: what a tenant put into its knowledge base.

Scopes (the task scopes: an ingest or a delete *is* a task on the retriever pool, visible in
``/api/v1/tasks``): ``task:submit`` to add or delete a document, ``task:read`` to list or read.
Everything stays inside the key's tenant; another tenant's document is a 404. Adding or
deleting a document drops the tenant's cached task results (``api.resultcache``): an answer
computed over the old knowledge must not be replayed.

``POST`` takes JSON: ``text`` (plain text or Markdown), or ``content_base64`` (the bytes of a
PDF, HTML, Markdown or text file), with ``filename`` and/or ``media_type`` saying which. It
answers ``202`` with the document (``status: ingesting``) and the id of its ingest task; the
retriever pool chunks and embeds it, then ``GET`` shows ``ready`` and the number of chunks.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.concurrency import run_in_threadpool

from octollm.api.auth import require
from octollm.api.resultcache import ResultCache
from octollm.api.routes.documented import errors
from octollm.api.state import ApiState, get_state
from octollm.errors import InvalidInput, NotFound
from octollm.memory.readers import read_document
from octollm.orchestrator.engine import documents as intake
from octollm.security.apikeys import Principal, Scope
from octollm.store import documents as document_repo
from octollm.store.documents import DocumentView

router = APIRouter(prefix="/api/v1/knowledge", tags=["knowledge"])

State = Annotated[ApiState, Depends(get_state)]
Reader = Annotated[Principal, Depends(require(Scope.TASK_READ))]
Writer = Annotated[Principal, Depends(require(Scope.TASK_SUBMIT, rate="submit"))]
DocumentId = Annotated[str, Path(min_length=1, max_length=64)]


class DocumentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, max_length=500, description="Default: the file's.")
    filename: str | None = Field(default=None, max_length=500)
    media_type: str | None = Field(
        default=None,
        max_length=100,
        description="text/plain, text/markdown, text/html or application/pdf; default: from "
        "the filename's extension (text/plain for `text` without a filename).",
    )
    text: str | None = Field(default=None, min_length=1, max_length=2_000_000)
    content_base64: str | None = Field(default=None, min_length=4, max_length=3_000_000)

    @model_validator(mode="after")
    def _one_content(self) -> DocumentCreate:
        if (self.text is None) == (self.content_base64 is None):
            raise ValueError("send exactly one of text or content_base64")
        if self.text is None and not (self.filename or self.media_type):
            raise ValueError("content_base64 needs a filename or a media_type")
        return self


class DocumentOut(BaseModel):
    id: str
    title: str
    filename: str | None
    media_type: str
    size_bytes: int
    chars: int
    sha256: str
    collection: str
    status: str = Field(description="ingesting | ready | failed")
    chunks: int | None = None
    error: dict[str, Any] | None = None
    task_id: str | None = Field(default=None, description="The ingest task (GET /api/v1/tasks/..)")
    created_at: datetime


class DocumentList(BaseModel):
    documents: list[DocumentOut]


class DocumentDeleted(BaseModel):
    id: str
    forget_task_id: str


def _out(view: DocumentView) -> DocumentOut:
    return DocumentOut(**{k: getattr(view, k) for k in DocumentOut.model_fields})


def _knowledge_changed(state: ApiState, tenant: str) -> None:
    ResultCache(state.redis, state.db, state.config.cache_ttl_seconds).forget_tenant(tenant)


def _add(state: ApiState, tenant: str, body: DocumentCreate) -> DocumentOut:
    if body.text is not None:
        data = body.text.encode()
        name = body.filename or "document.txt"
        media_type = body.media_type or (None if body.filename else "text/plain")
    else:
        try:
            data = base64.b64decode(body.content_base64 or "", validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidInput("content_base64 is not valid base64") from exc
        name = body.filename or "document"
        media_type = body.media_type
    document = read_document(name, data, media_type=media_type, title=body.title)
    row = intake.add(state.runtime, tenant, document, filename=body.filename, size_bytes=len(data))
    with state.db.session() as session:
        view = document_repo.get(session, tenant, row.id)
    assert view is not None
    return _out(view)


@router.post(
    "/documents",
    status_code=202,
    response_model=DocumentOut,
    responses=errors(),
    summary="Add a document to this tenant's knowledge base (ingested on the retriever pool)",
)
async def add_document(body: DocumentCreate, state: State, principal: Writer) -> DocumentOut:
    return await run_in_threadpool(_add, state, principal.tenant, body)


@router.get(
    "/documents",
    response_model=DocumentList,
    responses=errors(),
    summary="List this tenant's documents, newest first",
)
def list_documents(
    state: State, principal: Reader, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> DocumentList:
    with state.db.session() as session:
        views = document_repo.listing(session, principal.tenant, limit=limit)
    return DocumentList(documents=[_out(v) for v in views])


@router.get(
    "/documents/{document_id}",
    response_model=DocumentOut,
    responses=errors(404),
    summary="One document and its ingest status",
)
def get_document(document_id: DocumentId, state: State, principal: Reader) -> DocumentOut:
    with state.db.session() as session:
        view = document_repo.get(session, principal.tenant, document_id)
    if view is None:
        raise NotFound("no such document", details={"document_id": document_id})
    return _out(view)


@router.delete(
    "/documents/{document_id}",
    status_code=202,
    response_model=DocumentDeleted,
    responses=errors(404),
    summary="Delete a document: hidden at once, its chunks removed by a retriever task",
)
def delete_document(document_id: DocumentId, state: State, principal: Writer) -> DocumentDeleted:
    task_id = intake.remove(state.runtime, principal.tenant, document_id)
    if task_id is None:
        raise NotFound("no such document", details={"document_id": document_id})
    _knowledge_changed(state, principal.tenant)
    return DocumentDeleted(id=document_id, forget_task_id=task_id)
