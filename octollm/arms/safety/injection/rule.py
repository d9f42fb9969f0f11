"""What a detection rule is: a named pattern in a family, with a severity, a base score and
the benign look-alikes it must not fire on."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

from octollm.arms.safety.finding import Risk


@dataclass(frozen=True)
class Rule:
    """``pattern`` fires unless ``unless`` matches the text around the match (``window``
    characters each side): the benign look-alike the rule was designed against."""

    family: str
    name: str
    severity: Risk
    score: float
    pattern: re.Pattern[str]
    unless: re.Pattern[str] | None = None
    window: int = 60
    #: Lowercase strings of which any match must contain at least one: a substring test
    #: that skips the regex on texts it cannot match (most rules, on most text).
    needs: tuple[str, ...] = ()

    def may_match(self, lowered: str) -> bool:
        return not self.needs or any(n in lowered for n in self.needs)

    def benign_at(self, text: str, start: int, end: int) -> bool:
        if self.unless is None:
            return False
        around = text[max(0, start - self.window) : min(len(text), end + self.window)]
        return bool(self.unless.search(around))


def rx(pattern: str, flags: int = re.IGNORECASE) -> re.Pattern[str]:
    return re.compile(pattern, flags)


def with_needs(rules: tuple[Rule, ...], needs: Mapping[str, tuple[str, ...]]) -> tuple[Rule, ...]:
    """``rules`` with their ``needs`` filled in by name (every rule must have an entry)."""
    missing = {r.name for r in rules} - set(needs)
    if missing:
        raise ValueError(f"rules without needs: {sorted(missing)}")
    return tuple(replace(rule, needs=needs[rule.name]) for rule in rules)
