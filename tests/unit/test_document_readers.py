"""Reading documents into text: Markdown, plain text, HTML (BeautifulSoup) and PDF (pypdf)."""

from __future__ import annotations

import pytest

from octollm.errors import InvalidInput
from octollm.memory.readers import media_type_of, read_document
from tests.support.documents import page_html, tiny_pdf


def test_markdown_keeps_its_text_and_takes_its_title_from_the_first_heading() -> None:
    doc = read_document("notes.md", b"# Refund policy\n\nRefunds take 14 days.\n")
    assert (doc.title, doc.media_type) == ("Refund policy", "text/markdown")
    assert "Refunds take 14 days." in doc.text


def test_plain_text_with_a_bom_is_decoded_and_titled_by_its_file_name() -> None:
    doc = read_document("readme.txt", "\ufeffHello, wörld.".encode())
    assert (doc.title, doc.text) == ("readme.txt", "Hello, wörld.")


def test_html_yields_visible_text_in_paragraphs_without_scripts_styles_or_navigation() -> None:
    html = page_html("Shipping times", ["Parcels ship within two days.", "Express is next day."])
    doc = read_document("page.html", html)
    assert doc.title == "Shipping times"
    assert "Parcels ship within two days.\n\nExpress is next day." in doc.text
    assert "secret" not in doc.text
    assert "color" not in doc.text
    assert "About" not in doc.text


def test_a_pdf_text_layer_is_read_page_by_page_with_its_metadata_title() -> None:
    pdf = tiny_pdf(["The warranty lasts 24 months.", "Batteries are excluded."], title="Warranty")
    doc = read_document("warranty.pdf", pdf)
    assert doc.title == "Warranty"
    assert "The warranty lasts 24 months." in doc.text
    assert "Batteries are excluded." in doc.text


def test_a_caller_title_wins_over_the_documents_own() -> None:
    assert read_document("a.md", b"# Own\n\ntext", title="Given").title == "Given"


@pytest.mark.parametrize(
    ("name", "data", "match"),
    [
        ("scan.pdf", b"%PDF-1.4 garbage", "not a readable PDF|no text layer"),
        ("empty.md", b"   \n\n", "no text"),
        ("image.png", b"\x89PNG", "cannot tell the type"),
    ],
)
def test_unreadable_documents_are_refused_with_their_name(name, data, match) -> None:
    with pytest.raises(InvalidInput, match=match):
        read_document(name, data)


def test_the_media_type_comes_from_the_caller_or_the_extension() -> None:
    assert media_type_of("x.HTM") == "text/html"
    assert media_type_of("x", "text/markdown; charset=utf-8") == "text/markdown"
    with pytest.raises(InvalidInput, match="unsupported media type"):
        media_type_of("x.md", "application/zip")
