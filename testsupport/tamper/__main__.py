"""``python -m testsupport.tamper [sqlite|postgresql ...]``: run the tamper matrix against a
server process on each backend (both by default) and print it; exit 1 on any violation."""

from __future__ import annotations

import sys

from testsupport.tamper.matrix import run
from testsupport.tamper.report import summary, table


def main(argv: list[str]) -> int:
    backends = argv or ["sqlite", "postgresql"]
    failed = False
    for backend in backends:
        matrix = run(backend)
        print(table(matrix), end="\n\n")
        print(summary(matrix), end="\n\n")
        failed = failed or bool(matrix.violations)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
