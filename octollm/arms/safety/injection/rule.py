"""What a detection rule is: a named pattern in a family, with a severity, a base score and
the benign look-alikes it must not fire on."""

from __future__ import annotations

import re
from dataclasses import dataclass

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

    def benign_at(self, text: str, start: int, end: int) -> bool:
        if self.unless is None:
            return False
        around = text[max(0, start - self.window) : min(len(text), end + self.window)]
        return bool(self.unless.search(around))


def rx(pattern: str, flags: int = re.IGNORECASE) -> re.Pattern[str]:
    return re.compile(pattern, flags)
