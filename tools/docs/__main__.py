"""``python -m tools.docs [--check]``: regenerate (or check) the generated docs pages."""

from __future__ import annotations

import argparse
import sys

from . import REGEN_COMMAND, ROOT, stale_pages, write_pages


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.docs", description=__doc__)
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if a page is stale"
    )
    args = parser.parse_args()
    if args.check:
        stale = stale_pages()
        for path in stale:
            print(f"stale: {path.relative_to(ROOT)}")
        if stale:
            print(f"{len(stale)} generated page(s) are stale; run: {REGEN_COMMAND}")
            return 1
        print("generated docs pages are up to date")
        return 0
    for path in write_pages():
        print(f"{'wrote' if path.exists() else 'removed'} {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
