"""A small learned injection scorer: logistic regression over hashed character n-grams.

Rules catch the phrasings they were written for; on wording they were not written for they
caught about half of the attacks (docs/benchmarks-screening.md, round 3). This scorer reads
shape rather than phrasing: character 3- to 5-grams (script-agnostic, so it reads Chinese and
Japanese as well as Latin text) and word pairs, hashed into ``2**DIM_BITS`` buckets, weighted
by a logistic regression trained offline on the development sets only
(``benchmarks/train_injection_classifier.py``, which writes ``classifier_weights.bin``).

Pure Python at run time (``zlib.crc32`` is the hash, stable across processes): about
0.1-0.3 ms for a short text. Long texts are scored in chunks of lines and the highest chunk
wins, so one planted sentence in a long document is not diluted by the rest. The weights are
read once per process.
"""

from __future__ import annotations

import math
import re
import struct
import zlib
from functools import lru_cache
from itertools import pairwise
from pathlib import Path

DIM_BITS = 18
_MASK = (1 << DIM_BITS) - 1
NGRAMS = (3, 4, 5)
WEIGHTS = Path(__file__).with_name("classifier_weights.bin")
#: File layout: magic, dim bits, bias, count, then ``count`` (uint32 bucket, float32 weight).
_MAGIC = b"OCIC1"
_WORDS = re.compile(r"\w+")
#: Score from which a text gets a finding (chosen by cross-validation on dev, see the script).
THRESHOLD = 0.7
RULE = "classifier.char_ngram_lr"
_CHUNK = 600  # characters: texts longer than this are scored per chunk of lines


def features(text: str) -> dict[int, float]:
    """Hashed, sublinear, L2-normalised counts of character n-grams and word pairs."""
    lowered = " ".join(text.lower().split())
    counts: dict[int, int] = {}
    padded = f" {lowered} ".encode()
    grams = [padded[i : i + n] for n in NGRAMS for i in range(len(padded) - n + 1)]
    words = _WORDS.findall(lowered)
    grams += [f"w:{a} {b}".encode() for a, b in pairwise(words)]
    for gram in grams:
        h = zlib.crc32(gram) & _MASK
        counts[h] = counts.get(h, 0) + 1
    weighted = {h: 1.0 + math.log(c) for h, c in counts.items()}
    norm = math.sqrt(sum(v * v for v in weighted.values())) or 1.0
    return {h: v / norm for h, v in weighted.items()}


def save(path: Path, bias: float, weights: dict[int, float]) -> None:
    body = b"".join(struct.pack("<If", h, w) for h, w in sorted(weights.items()))
    header = _MAGIC + struct.pack("<BfI", DIM_BITS, bias, len(weights))
    path.write_bytes(header + body)


@lru_cache(maxsize=1)
def model(path: Path = WEIGHTS) -> tuple[float, dict[int, float]]:
    """``(bias, weights)``, read once per process."""
    data = path.read_bytes()
    if not data.startswith(_MAGIC):
        raise ValueError(f"{path.name} is not an injection classifier file")
    offset = len(_MAGIC)
    bits, bias, count = struct.unpack_from("<BfI", data, offset)
    if bits != DIM_BITS:
        raise ValueError(f"{path.name} was trained with {bits}-bit hashing, not {DIM_BITS}")
    offset += struct.calcsize("<BfI")
    pairs = struct.iter_unpack("<If", data[offset : offset + 8 * count])
    return bias, dict(pairs)


def _logit(text: str) -> float:
    bias, weights = model()
    return bias + sum(weights.get(h, 0.0) * v for h, v in features(text).items())


def chunks(text: str) -> list[str]:
    if len(text) <= _CHUNK:
        return [text]
    out: list[str] = []
    current = ""
    for line in text.splitlines():
        while len(line) > _CHUNK:  # one very long line: cut it
            out.append(line[:_CHUNK])
            line = line[_CHUNK // 2 :]
        if current and len(current) + len(line) > _CHUNK:
            out.append(current)
            current = ""
        current = f"{current}\n{line}" if current else line
    if current:
        out.append(current)
    return out


def score(text: str) -> float:
    """Probability-like score in [0, 1] that ``text`` carries an instruction to the model."""
    if not text.strip():
        return 0.0
    logit = max(_logit(chunk) for chunk in chunks(text))
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, logit))))


__all__ = [
    "DIM_BITS",
    "RULE",
    "THRESHOLD",
    "WEIGHTS",
    "chunks",
    "features",
    "model",
    "save",
    "score",
]
