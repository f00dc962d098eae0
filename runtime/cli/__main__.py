"""``python -m runtime.cli``: the same program as the ``vrb`` console script."""

from __future__ import annotations

from . import main

if __name__ == "__main__":
    raise SystemExit(main())
