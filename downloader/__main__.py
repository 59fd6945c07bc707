"""Command line of the downloader task; the engine arrives with the downloader issues."""

from __future__ import annotations

import sys

USAGE = """usage: python -m downloader COMMAND

commands:
  fetch   download an NZB to a folder (for people and benchmarks)   [not yet available]
  run     the Fargate task: process the job named by the environment [not yet available]
"""


def main(argv: list[str]) -> int:
    print(USAGE, file=sys.stderr if argv else sys.stdout, end="")
    return 2 if argv else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
