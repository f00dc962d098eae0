"""One sample of the compile workload, in a fresh interpreter; prints one JSON line.

    python benchmarks/compile_sample.py parse|check|build ROOT

``ROOT`` holds the package ``bench_check.generate`` writes. ``check`` and
``build`` run single-threaded (``jobs=1``, no cache) so they compare with the
one-threaded parse; the time covers the work only, not imports.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from _harness import print_result
from bench_check import PACKAGE


def main(kind: str, root: Path) -> None:
    files = sorted((root / PACKAGE).rglob("*.py"))
    if kind == "parse":
        import libcst

        texts = [f.read_text(encoding="utf-8") for f in files]
        start = time.perf_counter()
        for text in texts:
            libcst.parse_module(text)
        elapsed = time.perf_counter() - start
    else:
        from vrb_compile.api import CheckConfig, check_paths
        from vrb_compile.build import build_paths

        config = CheckConfig(cache_dir=None, jobs=1)
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            if kind == "check":
                result = check_paths([root / PACKAGE], config, cwd=root)
            else:
                result = build_paths([root / PACKAGE], out, config, cwd=root).check  # type: ignore[attr-defined]
            elapsed = time.perf_counter() - start
        assert not result.diagnostics, result.diagnostics
    print_result({"seconds": elapsed, "files": len(files)})


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
