"""Small documents of each kind the ingest reads, made here (no fixtures on disk)."""

from __future__ import annotations


def tiny_pdf(lines: list[str], *, title: str | None = None) -> bytes:
    """A valid one-page PDF whose text layer holds ``lines`` (Helvetica, one line each)."""

    def escape(text: str) -> str:
        return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    ops = ["BT /F1 11 Tf 14 TL 72 740 Td"]
    ops += [f"({escape(line)}) Tj T*" for line in lines]
    ops.append("ET")
    content = "\n".join(ops).encode("latin-1")
    stream = b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        stream,
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    if title is not None:
        objects.append(b"<< /Title (%s) >>" % escape(title).encode("latin-1"))
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    info = b" /Info %d 0 R" % len(objects) if title is not None else b""
    out += b"trailer\n<< /Size %d /Root 1 0 R%s >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        info,
        xref,
    )
    return out


def page_html(title: str, paragraphs: list[str]) -> bytes:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        f"<!doctype html><html><head><title>{title}</title><style>p {{color: red}}</style>"
        f"<script>var secret = 'not text';</script></head><body><nav>Home | About</nav>"
        f"<h1>{title}</h1>{body}</body></html>"
    ).encode()
