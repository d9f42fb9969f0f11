"""PII in the layouts round 4 of the PII evaluation found handled wrongly (each fixed on dev data).

Round 4 (``heldout4`` in ``tests/data/pii_eval_set.jsonl``) missed an SSN given as a bare JSON
value, and read netmasks, numbered clauses and an SSH remote as personal data. The examples
below are written apart from that set; see docs/benchmarks-screening.md.
"""

from __future__ import annotations

import pytest

from octollm.arms.safety.screening import find

FOUND = {
    "SSN as a bare JSON value": ('{"name": "Ana Silva", "ssn": "287654321"}', "ssn"),
    "SSN as a quoted YAML value": ('person:\n  SSN: "287654321"', "ssn"),
    "a host next to a netmask": ("host 198.51.100.7 netmask 255.255.255.0", "ipv4"),
    "an e-mail followed by a colon and a space": ("Owner: ana@example.com: ask her", "email"),
}

NOT_FOUND = {
    "netmask": ("netmask 255.255.252.0", "ipv4"),
    "numbered clause": ("See clause 5.2.7.4 of the supplier agreement.", "ipv4"),
    "numbered section sign": ("§ 4.1.2.3 Retention of records", "ipv4"),
    "SSH remote": ("git clone git@github.com:acme/service.git", "email"),
    "scp target": ("scp app.tgz deploy@ci.example.org:/srv/", "email"),
}


@pytest.mark.parametrize("case", sorted(FOUND))
def test_pii_in_these_layouts_is_found(case: str) -> None:
    text, subtype = FOUND[case]
    assert subtype in {f.subtype for f in find(text, ("pii",))}, text


@pytest.mark.parametrize("case", sorted(NOT_FOUND))
def test_these_look_alikes_are_not_reported(case: str) -> None:
    text, subtype = NOT_FOUND[case]
    assert subtype not in {f.subtype for f in find(text, ("pii",))}, text
