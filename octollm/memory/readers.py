"""Documents in, plain text out: what ``octollm ingest`` and the documents API can read.

    text/plain, text/markdown   decoded as UTF-8 (a BOM is dropped; invalid bytes replaced);
                                Markdown stays Markdown: its headings and lists chunk well
    application/pdf             each page's text via ``pypdf`` (pages joined by blank lines);
                                a PDF without a text layer (scans) is refused, not stored empty
    text/html                   the visible text via BeautifulSoup (stdlib ``html.parser``):
                                script, style, nav and the like dropped; block elements become
                                paragraphs; ``<title>`` (else the first ``<h1>``) is the title

The media type comes from the caller, else from the file name's extension. A title given by
the caller wins; else the document's own (HTML title, PDF metadata, a Markdown ``# heading``),
else the file name. Unreadable input raises ``InvalidInput`` naming the document.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import PurePath

from octollm.errors import InvalidInput

MAX_CHARS = 2_000_000  # the retriever's per-document limit
TEXT_TYPES = {".txt": "text/plain", ".text": "text/plain", ".md": "text/markdown"}
TYPES = {
    **TEXT_TYPES,
    ".markdown": "text/markdown",
    ".pdf": "application/pdf",
    ".html": "text/html",
    ".htm": "text/html",
}
SUPPORTED = frozenset(TYPES.values())
_DROP_TAGS = ("script", "style", "noscript", "template", "nav", "header", "footer", "svg", "form")
_BLOCKS = (
    "p", "div", "section", "article", "li", "tr", "br", "h1", "h2", "h3", "h4", "h5", "h6",
    "pre", "blockquote", "table", "ul", "ol", "dd", "dt",
)  # fmt: skip
_MD_TITLE = re.compile(r"^#\s+(.+?)\s*#*\s*$", re.MULTILINE)
_BLANKS = re.compile(r"\n\s*\n\s*")
_SPACES = re.compile(r"[ \t\r\f\v]+")


@dataclass(frozen=True)
class ReadDocument:
    title: str
    text: str
    media_type: str


def media_type_of(name: str, given: str | None = None) -> str:
    """The document's media type: ``given`` (parameters dropped) or from the extension."""
    if given:
        kind = given.split(";")[0].strip().lower()
        if kind in SUPPORTED:
            return kind
        raise InvalidInput(
            f"unsupported media type {kind!r}; supported: {sorted(SUPPORTED)}",
            details={"document": name, "media_type": kind},
        )
    kind_or_none = TYPES.get(PurePath(name).suffix.lower())
    if kind_or_none is None:
        raise InvalidInput(
            f"cannot tell the type of {name!r}; supported extensions: {sorted(TYPES)}",
            details={"document": name},
        )
    return kind_or_none


def read_document(
    name: str, data: bytes, *, media_type: str | None = None, title: str | None = None
) -> ReadDocument:
    """Plain text (and a title) from ``data``, the bytes of the document called ``name``."""
    kind = media_type_of(name, media_type)
    if kind == "application/pdf":
        text, own_title = _pdf(name, data)
    elif kind == "text/html":
        text, own_title = _html(data)
    else:
        text = _decode(data)
        found = _MD_TITLE.search(text) if kind == "text/markdown" else None
        own_title = found.group(1) if found else None
    text = text.strip()
    if not text:
        raise InvalidInput(f"{name!r} has no text to ingest", details={"document": name})
    if len(text) > MAX_CHARS:
        raise InvalidInput(
            f"{name!r} has {len(text)} characters; the limit is {MAX_CHARS}",
            details={"document": name, "chars": len(text)},
        )
    chosen = (title or own_title or PurePath(name).name or name).strip()[:500]
    return ReadDocument(title=chosen, text=text, media_type=kind)


def _decode(data: bytes) -> str:
    return data.decode("utf-8-sig", errors="replace")


def _pdf(name: str, data: bytes) -> tuple[str, str | None]:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [(page.extract_text() or "").strip() for page in reader.pages]
        meta_title = reader.metadata.title if reader.metadata else None
    except (PyPdfError, ValueError, KeyError, TypeError) as exc:
        raise InvalidInput(
            f"{name!r} is not a readable PDF: {exc}"[:300], details={"document": name}
        ) from exc
    text = "\n\n".join(p for p in pages if p)
    if not text:
        raise InvalidInput(
            f"{name!r} has no text layer (a scan?); OCR it first", details={"document": name}
        )
    return text, str(meta_title) if meta_title else None


def _html(data: bytes) -> tuple[str, str | None]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(data, "html.parser")
    title_tag = soup.title or soup.find("h1")
    title = title_tag.get_text(" ", strip=True) if title_tag is not None else None
    if soup.title is not None:
        soup.title.decompose()
    for tag in soup.find_all(_DROP_TAGS):
        tag.decompose()
    for tag in soup.find_all(_BLOCKS):
        tag.insert_before("\n\n")
        tag.insert_after("\n\n")
    text = soup.get_text()
    paragraphs = (_SPACES.sub(" ", part).strip() for part in _BLANKS.split(text))
    return "\n\n".join(p for p in paragraphs if p), title or None
