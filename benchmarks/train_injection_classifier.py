"""Train the learned injection scorer on development data only, and pick its threshold by CV.

Training data: the ``dev``, ``heldout`` (round 2) and ``heldout3`` (round 3) splits of
``tests/data/injection_set.jsonl``; all three were evaluated and then looked at, so all are
development data. ``heldout4`` (round 4) is never read here: the script refuses to run if a
training row comes from it.

    python benchmarks/train_injection_classifier.py            # CV report, then write the weights
    python benchmarks/train_injection_classifier.py --cv-only  # CV report only

Model: logistic regression (L2, class-balanced) over ``classifier.features`` of the normalised
text, fitted by full-batch Adam with numpy (deterministic: fixed order, no sampling). CV:
5 folds by group (a payload and all its wrappers stay in one fold). For each threshold the
report gives, on the held-out folds, rules-only detection, rules+classifier detection and the
share of benign texts the classifier alone would flag; then it trains on every round but round 3
and tests on round 3 (new wording, as a fresh set would be). The shipped threshold
(``THRESHOLD`` in ``octollm/arms/safety/injection/classifier.py``, 0.7) is the one at which the
classifier alone flags at most 5 % of benign texts in the 5-fold CV; L2 (1e-5) and the
features were compared the same way (other n-gram ranges, word unigrams, word-bounded n-grams
and training on benign texts under the dev wrappers were no better, within noise).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from octollm.arms.safety import injection  # noqa: E402
from octollm.arms.safety.injection import classifier  # noqa: E402
from octollm.arms.safety.injection.normalise import normalise  # noqa: E402
from octollm.arms.safety.policy import decide, resolve, verdict  # noqa: E402
from octollm.arms.safety.screening import find  # noqa: E402

SET = ROOT / "tests" / "data" / "injection_set.jsonl"
TRAIN_SPLITS = ("dev", "heldout", "heldout3")
L2 = 1e-5
STEPS = 400
FOLDS = 5


#: Benign technical prose: this repository's own documentation, cut into the chunks the scorer
#: reads long texts in. Without it every long technical text looked like an attack (code-shaped
#: payloads are attacks in the sets; 8 of 12 docs/*.md were flagged). The screening benchmark
#: page quotes attacks, so it is left out, and so is any chunk that talks about injections.
#: Read at a pinned commit (the round-4 base), so later doc edits do not change the weights.
DOCS_AT = "767b5f4c564d1accd24b779523c32c7e3f33bf42"
_DOCS_SKIP = ("docs/benchmarks-screening.md",)
_QUOTES_ATTACKS = re.compile(r"inject|jailbreak|ignor|disregard|system prompt|exfiltrat", re.I)


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(ROOT), *args], check=True, capture_output=True, text=True
    ).stdout


def doc_rows() -> list[dict[str, str]]:
    names = _git("ls-tree", "--name-only", DOCS_AT, "docs/").split()
    paths = ["README.md", *sorted(n for n in names if n.endswith(".md"))]
    out = []
    for path in paths:
        if path in _DOCS_SKIP:
            continue
        for chunk in classifier.chunks(_git("show", f"{DOCS_AT}:{path}")):
            if chunk.strip() and not _QUOTES_ATTACKS.search(chunk):
                out.append(
                    {"text": chunk, "label": "benign", "group": f"doc:{path}",
                     "origin": "docs", "split": "docs"}
                )  # fmt: skip
    return out


def rows() -> list[dict[str, str]]:
    out = []
    for line in SET.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row["split"] in TRAIN_SPLITS:
            if row["origin"].startswith("v4"):
                raise SystemExit("refusing to train on round-4 held-out data")
            out.append(row)
    return out + doc_rows()


def matrix(texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR parts (indptr, indices, data) of the feature matrix."""
    indptr, indices, data = [0], [], []
    for text in texts:
        feats = classifier.features(normalise(text).text)
        indices += list(feats)
        data += list(feats.values())
        indptr.append(len(indices))
    return np.array(indptr), np.array(indices, dtype=np.int64), np.array(data)


def _dot(parts: tuple[np.ndarray, np.ndarray, np.ndarray], w: np.ndarray) -> np.ndarray:
    indptr, indices, data = parts
    products = data * w[indices]
    sums = np.add.reduceat(products, indptr[:-1]) if len(products) else np.zeros(0)
    sums[np.diff(indptr) == 0] = 0.0
    return sums


def fit(
    parts: tuple[np.ndarray, np.ndarray, np.ndarray], y: np.ndarray
) -> tuple[float, np.ndarray]:
    indptr, indices, data = parts
    dim = 1 << classifier.DIM_BITS
    w, b = np.zeros(dim), 0.0
    pos = y.mean()
    sample_w = np.where(y == 1, 0.5 / pos, 0.5 / (1 - pos))
    m, v, mb, vb = np.zeros(dim), np.zeros(dim), 0.0, 0.0
    lr, beta1, beta2, eps = 0.05, 0.9, 0.999, 1e-8
    rows_of = np.repeat(np.arange(len(y)), np.diff(indptr))
    for t in range(1, STEPS + 1):
        p = 1.0 / (1.0 + np.exp(-(_dot(parts, w) + b)))
        r = (p - y) * sample_w / len(y)
        grad = np.bincount(indices, weights=data * r[rows_of], minlength=dim) + L2 * w
        gb = r.sum()
        m = beta1 * m + (1 - beta1) * grad
        v = beta2 * v + (1 - beta2) * grad * grad
        w -= lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps)
        mb = beta1 * mb + (1 - beta1) * gb
        vb = beta2 * vb + (1 - beta2) * gb * gb
        b -= lr * (mb / (1 - beta1**t)) / (np.sqrt(vb / (1 - beta2**t)) + eps)
    return float(b), w


def rules_caught(text: str) -> tuple[bool, str]:
    """Rules only (the classifier's own findings left out): injection caught, overall verdict."""
    findings = list(find(text, ("pii", "secrets", "injection")))
    decisions = decide(findings, resolve("default"))
    return any(d.finding.kind == "injection" for d in decisions), verdict(decisions)


def cv(data: list[dict[str, str]]) -> None:
    texts = [r["text"] for r in data]
    y = np.array([r["label"] == "attack" for r in data], dtype=float)
    folds = np.array([zlib.crc32(r["group"].encode()) % FOLDS for r in data])
    parts = matrix(texts)
    caught = np.array([rules_caught(t)[0] for t in texts])
    scores = np.zeros(len(y))
    for k in range(FOLDS):
        train = np.flatnonzero(folds != k)
        test = np.flatnonzero(folds == k)
        sub = _subset(parts, train)
        b, w = fit(sub, y[train])
        logits = _dot(_subset(parts, test), w) + b
        scores[test] = 1.0 / (1.0 + np.exp(-logits))
    docs = np.array([r["origin"] == "docs" for r in data])
    attack, benign = y == 1, (y == 0) & ~docs
    print(f"CV over {len(y)} dev texts ({int(attack.sum())} attacks, {int(benign.sum())} benign)")
    print(
        f"rules only: detection {caught[attack].mean():.3f},"
        f" benign with injection finding {caught[benign].mean():.3f}"
    )
    for t in (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95):
        hit = scores >= t
        print(
            f"t={t:.2f}  classifier alone: detection {hit[attack].mean():.3f}"
            f" benign flagged {hit[benign].mean():.3f}"
            f" | rules+classifier: detection {(hit | caught)[attack].mean():.3f}"
            f" benign with injection finding {(hit | caught)[benign].mean():.3f}"
        )
    print(
        f"docs chunks (benign, CV by file): {int(docs.sum())},"
        f" flagged at t={classifier.THRESHOLD}: {(scores >= classifier.THRESHOLD)[docs].mean():.3f}"
    )
    for origin in sorted({r["origin"] for r in data} - {"docs"}):
        mask = np.array([r["origin"] == origin for r in data])
        t = classifier.THRESHOLD
        print(
            f"  {origin:12} t={t} detection rules {caught[mask & attack].mean():.3f}"
            f" combined {((scores >= t) | caught)[mask & attack].mean():.3f}"
            f" benign flagged by classifier {(scores >= t)[mask & benign].mean():.3f}"
        )


def by_origin(data: list[dict[str, str]], test_origin: str) -> None:
    """Train on every other origin, test on ``test_origin``: new wording, like a fresh set."""
    texts = [r["text"] for r in data]
    y = np.array([r["label"] == "attack" for r in data], dtype=float)
    parts = matrix(texts)
    test = np.array([r["origin"] == test_origin for r in data])
    b, w = fit(_subset(parts, np.flatnonzero(~test)), y[~test])
    scores = 1.0 / (1.0 + np.exp(-(_dot(_subset(parts, np.flatnonzero(test)), w) + b)))
    caught = np.array([rules_caught(t)[0] for t in np.array(texts, dtype=object)[test]])
    yt = y[test]
    attack, benign = yt == 1, yt == 0  # (no docs in the test origin)
    print(
        f"train on all but {test_origin}, test on it: rules detection {caught[attack].mean():.3f}"
    )
    for t in (0.5, 0.6, 0.7, 0.8, 0.9):
        hit = scores >= t
        print(
            f"  t={t:.2f} classifier alone {hit[attack].mean():.3f},"
            f" benign flagged {hit[benign].mean():.3f};"
            f" rules+classifier {(hit | caught)[attack].mean():.3f}"
        )


def _subset(
    parts: tuple[np.ndarray, np.ndarray, np.ndarray], rows_: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    indptr, indices, data = parts
    new_ptr, idx, val = [0], [], []
    for r in rows_:
        lo, hi = indptr[r], indptr[r + 1]
        idx.append(indices[lo:hi])
        val.append(data[lo:hi])
        new_ptr.append(new_ptr[-1] + hi - lo)
    return np.array(new_ptr), np.concatenate(idx), np.concatenate(val)


def main() -> None:
    global L2
    # Rules only while training: the learned scorer (whose weights this writes) stays out.
    injection._learned = lambda n, floor: []
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cv-only", action="store_true")
    parser.add_argument("--l2", type=float, default=L2)
    args = parser.parse_args()
    L2 = args.l2
    data = rows()
    cv(data)
    by_origin(data, "v3-heldout")
    if args.cv_only:
        return
    y = np.array([r["label"] == "attack" for r in data], dtype=float)
    b, w = fit(matrix([r["text"] for r in data]), y)
    kept = {int(h): float(x) for h, x in enumerate(w) if abs(x) >= 1e-3}
    classifier.save(classifier.WEIGHTS, b, kept)
    print(f"wrote {classifier.WEIGHTS} ({len(kept)} weights, bias {b:.3f})")


if __name__ == "__main__":
    main()
