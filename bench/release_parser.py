"""Release-name parser benchmark: our parser against a naive floor and, if installed, the libraries.

    python -m bench.release_parser [--rounds 20] [--libraries]

Parses the names of the test table (``tests/release_names.py``) plus, when the shared fixture is
checked out beside the repository, the 1,643 names of ``shared/fixtures/newznab/items.jsonl``.
Each round parses every name once; the median round gives names/s and ms per 100 names (what one
search request parses in the Lambda). The reference is measured in the same run: ``naive`` splits
on separators with ``str.translate``/``str.split`` and looks every token up in the same table, the
least any token-table parser can cost, so ``ratio_vs_naive`` is the price of the real rules
(joins, group, title/year, pessimistic source). With ``--libraries``, guessit and
parse-torrent-title are timed too when importable (they are not project dependencies:
``pip install guessit parse-torrent-title`` in a scratch venv) and ``ratio_vs_<library>`` is
printed: below 1 means we are faster. Target: well under 1 ms per name.
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from chalicelib.domain.release_parser import parse_release
from chalicelib.domain.release_tokens import TOKENS
from tests.release_names import CASES

ROOT = Path(__file__).resolve().parent.parent
SHARED_ITEMS = ROOT.parent / "shared" / "fixtures" / "newznab" / "items.jsonl"
_SEPARATORS = str.maketrans(dict.fromkeys("._-[](){}+,/\\|\"'", " "))


def naive(name: str) -> set[str]:
    """The floor: split on separators, look each token up; no rules at all."""
    return {
        TOKENS[token].value
        for token in name[:500].lower().translate(_SEPARATORS).split()
        if token in TOKENS
    }


def load_names() -> list[str]:
    names = [case.name for case in CASES]
    if SHARED_ITEMS.exists():
        lines = SHARED_ITEMS.read_text("utf-8").splitlines()
        names.extend(json.loads(line)["title"] for line in lines if line.strip())
    return names


def median_round(parse: Callable[[str], object], names: Sequence[str], rounds: int) -> float:
    """Median seconds to parse every name once (one warm-up round first)."""
    for name in names:
        parse(name)
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        for name in names:
            parse(name)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def library(module: str, function: str) -> Callable[[str], object] | None:
    try:
        loaded = importlib.import_module(module)
    except ImportError:
        return None
    parse: Callable[[str], object] = getattr(loaded, function)

    def guarded(name: str) -> object:
        try:
            return parse(name)
        except Exception:  # a library crash costs its time like any other answer
            return None

    return guarded


def report(label: str, seconds: float, count: int) -> None:
    print(f"{label}_names_per_s: {count / seconds:,.0f}")
    print(f"{label}_ms_per_100_names: {seconds / count * 100 * 1000:.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20, help="timed rounds (median)")
    parser.add_argument(
        "--libraries", action="store_true", help="also time guessit / PTN when importable"
    )
    args = parser.parse_args()
    names = load_names()
    source = "table + shared items.jsonl" if SHARED_ITEMS.exists() else "table only"
    print(f"names: {len(names)} ({source}), rounds: {args.rounds}")

    ours = median_round(parse_release, names, args.rounds)
    report("ours", ours, len(names))
    floor = median_round(naive, names, args.rounds)
    report("naive", floor, len(names))
    print(f"ratio_vs_naive: {ours / floor:.1f}")

    if args.libraries:
        for label, module, function in (("guessit", "guessit", "guessit"), ("ptn", "PTN", "parse")):
            parse = library(module, function)
            if parse is None:
                print(f"{label}: not installed, skipped")
                continue
            theirs = median_round(parse, names, max(1, args.rounds // 10))
            report(label, theirs, len(names))
            print(f"ratio_vs_{label}: {ours / theirs:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
