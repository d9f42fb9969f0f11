"""Prompt-injection screening on the labelled set, under a screening policy.

Set: ``tests/data/injection_set.jsonl`` (see ``tests/data/make_injection_set.py``), split
into ``dev`` (tuned on) and ``heldout`` (evaluated once, at the end). Each text is screened
as the API's edge screens a goal: PII, secrets and injection, then the policy's decisions.

* **detection**: attacks with an injection finding the policy blocks or flags;
* **refused**: texts the policy blocks (for attacks, the block rate; for benign texts, the
  false-refusal rate);
* **flagged**: benign texts let through with a flag (what the guardian and judge see).

    python benchmarks/screening_eval.py --split dev [--policy default] [--misses] [--json]

PII: ``tests/data/pii_eval_set.jsonl`` (see ``tests/data/make_pii_eval_set.py``), precision
and recall over (line, type) pairs of the ``pii`` check:

    python benchmarks/screening_eval.py --set pii --split dev [--misses]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from octollm.arms.safety.policy import ScreeningPolicy, decide, resolve, verdict  # noqa: E402
from octollm.arms.safety.screening import find  # noqa: E402

SET = ROOT / "tests" / "data" / "injection_set.jsonl"
PII_SET = ROOT / "tests" / "data" / "pii_eval_set.jsonl"


@dataclass
class PiiOutcome:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    lines: int = 0
    errors: list[dict[str, object]] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    def summary(self) -> dict[str, object]:
        return {"lines": self.lines, "tp": self.tp, "fp": self.fp, "fn": self.fn,
                "precision": round(self.precision, 4), "recall": round(self.recall, 4)}  # fmt: skip


def evaluate_pii(split: str) -> PiiOutcome:
    out = PiiOutcome()
    for line in PII_SET.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if split not in ("all", row["split"]):
            continue
        out.lines += 1
        expected = set(row["labels"])
        got = {f.subtype for f in find(row["text"], ("pii",))}
        out.tp += len(expected & got)
        out.fp += len(got - expected)
        out.fn += len(expected - got)
        if got != expected:
            out.errors.append({"note": row["note"], "missing": sorted(expected - got),
                               "extra": sorted(got - expected), "text": row["text"]})  # fmt: skip
    return out


@dataclass
class Outcome:
    attacks: int = 0
    detected: int = 0
    attacks_refused: int = 0
    benign: int = 0
    benign_refused: int = 0
    benign_flagged: int = 0
    missed: list[dict[str, str]] = field(default_factory=list)
    false_refusals: list[dict[str, str]] = field(default_factory=list)
    by_category: dict[str, Counter[str]] = field(default_factory=dict)

    @property
    def detection(self) -> float:
        return self.detected / self.attacks if self.attacks else 0.0

    @property
    def false_refusal(self) -> float:
        return self.benign_refused / self.benign if self.benign else 0.0

    def summary(self) -> dict[str, object]:
        return {
            "attacks": self.attacks,
            "detection": round(self.detection, 4),
            "attack_block_rate": round(self.attacks_refused / max(self.attacks, 1), 4),
            "benign": self.benign,
            "false_refusal": round(self.false_refusal, 4),
            "benign_flag_rate": round(self.benign_flagged / max(self.benign, 1), 4),
        }


def load(split: str) -> list[dict[str, str]]:
    rows = [json.loads(line) for line in SET.read_text(encoding="utf-8").splitlines() if line]
    return [r for r in rows if split in ("all", r["split"])]


def evaluate(split: str, policy: str | ScreeningPolicy = "default") -> Outcome:
    chosen = resolve(policy)
    out = Outcome()
    for row in load(split):
        decisions = decide(find(row["text"], ("pii", "secrets", "injection")), chosen)
        overall = verdict(decisions)
        caught = any(d.finding.kind == "injection" for d in decisions)
        brief = {k: row[k] for k in ("category", "evasion", "group", "text")}
        tally = out.by_category.setdefault(f"{row['label']}:{row['category']}", Counter())
        tally["n"] += 1
        if row["label"] == "attack":
            out.attacks += 1
            out.detected += caught
            out.attacks_refused += overall == "block"
            tally["hit"] += caught
            if not caught:
                out.missed.append(brief)
        else:
            out.benign += 1
            out.benign_refused += overall == "block"
            out.benign_flagged += overall == "flag"
            tally["hit"] += overall != "off"
            if overall == "block":
                out.false_refusals.append(
                    {**brief, "why": "; ".join(f"{d.finding.rule or d.finding.subtype}"
                                               for d in decisions if d.action == "block")}
                )  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--set", choices=["injection", "pii"], default="injection")
    parser.add_argument(
        "--split",
        choices=["dev", "heldout", "heldout3", "heldout4", "heldout5", "all"],
        default="dev",
    )
    parser.add_argument("--policy", default="default")
    parser.add_argument("--misses", action="store_true", help="list misses and false refusals")
    parser.add_argument("--flags", action="store_true", help="list flagged benign texts")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--rules-only", action="store_true", help="leave the learned scorer out (comparison)"
    )
    args = parser.parse_args()
    if args.rules_only:
        from octollm.arms.safety import injection

        injection._learned = lambda n, floor: []
    if args.set == "pii":
        pii = evaluate_pii(args.split)
        print(json.dumps(pii.summary()))
        for error in pii.errors if args.misses else []:
            print("ERROR", json.dumps(error, ensure_ascii=False))
        return
    outcome = evaluate(args.split, args.policy)
    if args.json:
        report = {**outcome.summary(), "missed": outcome.missed}
        report["false_refusals"] = outcome.false_refusals
        print(json.dumps(report, ensure_ascii=False, indent=1))
        return
    print(json.dumps(outcome.summary()))
    for name, tally in sorted(outcome.by_category.items()):
        print(f"  {name:32} {tally['hit']:3}/{tally['n']:3}")
    if args.misses:
        for row in outcome.missed:
            print("MISS", row["category"], row["evasion"], repr(row["text"][:140]))
        for row in outcome.false_refusals:
            print("REFUSED", row["category"], row["why"], repr(row["text"][:140]))
    if args.flags:
        chosen = resolve(args.policy)
        for row in load(args.split):
            if row["label"] != "benign":
                continue
            decisions = decide(find(row["text"], ("pii", "secrets", "injection")), chosen)
            if decisions:
                why = ", ".join(
                    f"{d.finding.rule or d.finding.subtype}:{d.action}" for d in decisions
                )
                print("FLAG", row["category"], why, repr(row["text"][:120]))


if __name__ == "__main__":
    main()
