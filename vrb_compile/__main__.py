"""``python -m vrb_compile``: the same program as the ``vrb-compile`` console script."""

from __future__ import annotations

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
