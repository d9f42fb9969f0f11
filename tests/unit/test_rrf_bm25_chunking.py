"""Pure retrieval logic: reciprocal rank fusion, BM25, chunking, payload filters, cache keys."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from octollm.arms.retrieval.chunking import chunk_text, paragraphs, sentences
from octollm.arms.retrieval.fusion import RRF_K, reciprocal_rank_fusion
from octollm.errors import InvalidInput
from octollm.memory.filters import check_filters, matches
from octollm.memory.keyword import BM25Index, stem, tokenize

# -- reciprocal rank fusion ---------------------------------------------------------------


def test_rrf_scores_are_the_sum_of_one_over_k_plus_rank():
    fused = {f.key: f for f in reciprocal_rank_fusion([["a", "b", "c"], ["b", "d"]])}
    assert fused["b"].score == pytest.approx(1 / (RRF_K + 2) + 1 / (RRF_K + 1))
    assert fused["a"].score == pytest.approx(1 / (RRF_K + 1))
    assert fused["d"].score == pytest.approx(1 / (RRF_K + 2))
    assert fused["b"].ranks == (2, 1)
    assert fused["d"].ranks == (None, 2)


def test_an_item_found_by_both_methods_outranks_one_found_by_a_single_method():
    fused = reciprocal_rank_fusion([["x", "shared"], ["y", "shared"]])
    assert next(f.key for f in fused) == "shared"


def test_rrf_relevance_is_one_only_for_first_place_in_every_ranking():
    fused = reciprocal_rank_fusion([["a", "b"], ["a", "c"]])
    assert fused[0].key == "a"
    assert fused[0].relevance == pytest.approx(1.0)
    assert all(0 < f.relevance < 1 for f in fused[1:])


def test_rrf_breaks_ties_by_best_rank_then_by_first_appearance():
    fused = reciprocal_rank_fusion([["a", "b"], ["b", "a"]])
    assert [f.key for f in fused] == ["a", "b"]  # equal scores and best ranks: input order


def test_a_duplicate_within_one_ranking_counts_once():
    fused = reciprocal_rank_fusion([["a", "a", "b"]])
    assert fused[0].score == pytest.approx(1 / (RRF_K + 1))


def test_rrf_of_no_rankings_is_empty_and_k_must_be_positive():
    assert reciprocal_rank_fusion([]) == []
    with pytest.raises(ValueError, match="k must be"):
        reciprocal_rank_fusion([["a"]], k=0)


# -- BM25 ---------------------------------------------------------------------------------


def _index(docs: dict[str, str]) -> BM25Index:
    index = BM25Index()
    index.add_many(docs.items())
    return index


def test_bm25_matches_a_hand_computed_okapi_score():
    index = _index({"d1": "apple banana apple", "d2": "banana cherry", "d3": "cherry date"})
    n, df, k1, b = 3, 1, 1.5, 0.75
    idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
    avgdl = (3 + 2 + 2) / 3
    tf, dl = 2, 3
    expected = idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl))
    [hit] = index.search("apple")
    assert hit.doc_id == "d1"
    assert hit.score == pytest.approx(expected)
    assert hit.relevance == pytest.approx(expected / (idf * (k1 + 1)))


def test_bm25_prefers_rare_terms_and_shorter_documents():
    index = _index(
        {
            "short": "habeas corpus suspended congress",
            "long": "habeas corpus " + "other words here " * 20,
            "common": "congress congress congress",
            "also": "congress",
        }
    )
    ranked = [h.doc_id for h in index.search("habeas corpus")]
    assert ranked == ["short", "long"]
    assert index.idf("habea") > index.idf("congress")


def test_bm25_idf_stays_positive_for_a_term_in_every_document():
    index = _index({"a": "law one", "b": "law two", "c": "law three"})
    assert index.idf("law") > 0
    assert index.search("law")


def test_bm25_relevance_stays_between_zero_and_one():
    index = _index({"a": "tax tax tax tax tax", "b": "tax duty", "c": "duty"})
    for hit in index.search("tax duty tax"):
        assert 0 < hit.relevance <= 1


def test_bm25_coverage_is_the_idf_share_of_the_query_terms_a_document_has():
    index = _index(
        {
            "one-common": "house house house house",
            "both": "house quorum",
            "rare": "quorum",
            "x": "house",
            "y": "house senate",
        }
    )
    hits = {h.doc_id: h for h in index.search("house quorum")}
    rare, common = index.idf(stem("quorum")), index.idf(stem("house"))
    share = rare / (rare + common)
    assert hits["both"].coverage == pytest.approx(1.0)
    assert hits["rare"].coverage == pytest.approx(share)
    assert hits["one-common"].coverage == pytest.approx(1 - share)
    assert hits["rare"].coverage > hits["one-common"].coverage  # the rare term carries more


def test_removing_and_replacing_documents_updates_the_statistics():
    index = _index({"a": "alpha beta", "b": "beta gamma"})
    index.add("a", "delta")  # replace
    assert [h.doc_id for h in index.search("alpha")] == []
    assert [h.doc_id for h in index.search("delta")] == ["a"]
    index.remove("b")
    assert len(index) == 1
    assert index.search("beta") == []
    index.clear()
    assert len(index) == 0


def test_bm25_search_skips_documents_the_filter_rejects():
    index = _index({"a": "senate senate", "b": "senate"})
    assert [h.doc_id for h in index.search("senate", accept=lambda d: d == "b")] == ["b"]


def test_a_query_of_only_stopwords_finds_nothing():
    assert _index({"a": "the people"}).search("the of and") == []


def test_tokenizer_lowercases_drops_stopwords_and_stems_lightly():
    assert tokenize("The Taxes, DUTIES and the Excises") == ["tax", "duty", "excis"]
    assert stem("committed") == stem("commit")
    assert stem("declared") == stem("declares")
    assert stem("congress") == "congress"
    assert stem("1787") == "1787"


# -- chunking -----------------------------------------------------------------------------

TEXT = (
    "We the People of the United States, in Order to form a more perfect Union.\n\n"
    "All legislative Powers herein granted shall be vested in a Congress. "
    "It shall consist of a Senate and House of Representatives. "
    "The House shall be composed of Members chosen every second Year. "
    "No Person shall be a Representative who shall not have attained the Age of twenty five.\n\n"
    "   \n\n"
    "The Senate shall be composed of two Senators from each State."
)


def test_chunks_are_exact_slices_of_the_document():
    for span in chunk_text(TEXT, max_chars=120, overlap_chars=40):
        assert TEXT[span.start : span.end] == span.text
        assert len(span.text) <= 120
        assert span.text == span.text.strip()


def test_short_paragraphs_are_packed_together_and_blank_paragraphs_dropped():
    spans = chunk_text(TEXT, max_chars=2000)
    assert len(spans) == 1
    assert spans[0].start == 0
    assert spans[0].end == len(TEXT)
    assert paragraphs("a\n\n  \n\nb") == [(0, 1), (7, 8)]


def test_a_long_paragraph_splits_at_sentences_with_overlap():
    spans = chunk_text(TEXT, max_chars=150, overlap_chars=70)
    second_paragraph = [s for s in spans if "Congress" in s.text or "Representative" in s.text]
    assert len(second_paragraph) >= 2
    # consecutive chunks inside the paragraph share a sentence
    assert any(a.end > b.start for a, b in itertools.pairwise(spans))


def test_overlap_zero_gives_disjoint_chunks():
    spans = chunk_text(TEXT, max_chars=150, overlap_chars=0)
    assert all(a.end <= b.start for a, b in itertools.pairwise(spans))


def test_a_sentence_longer_than_the_limit_is_cut_at_whitespace():
    words = " ".join(f"word{i}" for i in range(200))
    spans = chunk_text(words, max_chars=100, overlap_chars=20)
    assert all(len(s.text) <= 100 for s in spans)
    assert all(not s.text.startswith(" ") and words[s.start : s.end] == s.text for s in spans)
    assert spans[-1].end == len(words)
    assert set(" ".join(s.text for s in spans).split()) == set(words.split())


def test_sentence_splitting_keeps_closing_punctuation():
    text = 'He said "Stop." Then he left! Did he? Yes.'
    assert [text[s:e] for s, e in sentences(text, 0, len(text))] == [
        'He said "Stop."',
        "Then he left!",
        "Did he?",
        "Yes.",
    ]


def test_chunking_rejects_nonsense_sizes():
    with pytest.raises(ValueError, match="max_chars"):
        chunk_text("x", max_chars=10)
    with pytest.raises(ValueError, match="overlap"):
        chunk_text("x", max_chars=100, overlap_chars=60)


@settings(max_examples=150, deadline=None)
@given(
    st.text(alphabet=st.sampled_from("ab .!?\n"), max_size=600),
    st.integers(min_value=50, max_value=300),
)
def test_every_non_blank_character_lands_in_some_chunk(text, max_chars):
    spans = chunk_text(text, max_chars=max_chars, overlap_chars=max_chars // 4)
    covered = set()
    for span in spans:
        assert text[span.start : span.end] == span.text
        assert len(span.text) <= max_chars
        covered.update(range(span.start, span.end))
    assert all(i in covered for i, ch in enumerate(text) if not ch.isspace())


# -- payload filters ----------------------------------------------------------------------


def test_filters_match_values_lists_and_ranges_like_qdrant():
    payload = {"source": "const", "metadata": {"year": 1791, "tags": ["rights", "speech"]}}
    assert matches(payload, check_filters({"source": "const"}))
    assert matches(payload, check_filters({"metadata.year": {"gte": 1789, "lt": 1800}}))
    assert matches(payload, check_filters({"metadata.tags": ["speech", "press"]}))
    assert matches(payload, check_filters({"metadata.tags": "rights"}))
    assert not matches(payload, check_filters({"metadata.year": 1792}))
    assert not matches(payload, check_filters({"metadata.missing": "x"}))
    assert not matches({"metadata": {"flag": 1}}, check_filters({"metadata.flag": True}))


@pytest.mark.parametrize(
    "bad",
    [{"bad key": 1}, {"k": []}, {"k": {"between": 1}}, {"k": {"gt": "x"}}, {"k": None}],
)
def test_malformed_filters_are_rejected_with_invalid_input(bad):
    with pytest.raises(InvalidInput):
        check_filters(bad)
