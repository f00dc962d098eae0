"""One sample of the compile workload, in a fresh interpreter; prints one JSON line.

    python benchmarks/compile_sample.py parse|check|build ROOT

``ROOT`` holds the package ``bench_check.generate`` writes. ``check`` and
``build`` run single-threaded (``jobs=1``, no cache) so they compare with the
one-threaded parse; the time covers the work only, not imports. The result also
holds the memory the work took: the peak resident set size of the process
minus its size before the work (after the imports), per source line.
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path

from _harness import print_result
from bench_check import PACKAGE


def _rss_kb() -> int:
    """The resident set size now, in KiB (Linux; 0 where /proc is not there)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def main(kind: str, root: Path) -> None:
    files = sorted((root / PACKAGE).rglob("*.py"))
    lines = sum(f.read_bytes().count(b"\n") for f in files)
    if kind == "parse":
        import libcst

        texts = [f.read_text(encoding="utf-8") for f in files]
        before = _rss_kb()
        start = time.perf_counter()
        for text in texts:
            libcst.parse_module(text)
        elapsed = time.perf_counter() - start
    else:
        from vrb_compile.api import CheckConfig, check_paths
        from vrb_compile.build import build_paths

        config = CheckConfig(cache_dir=None, jobs=1)
        with tempfile.TemporaryDirectory() as out:
            before = _rss_kb()
            start = time.perf_counter()
            if kind == "check":
                result = check_paths([root / PACKAGE], config, cwd=root)
            else:
                result = build_paths([root / PACKAGE], out, config, cwd=root).check  # type: ignore[attr-defined]
            elapsed = time.perf_counter() - start
        assert not result.diagnostics, result.diagnostics
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    kb_per_line = (peak - before) / lines if before and lines else None
    print_result({"seconds": elapsed, "files": len(files), "kb_per_line": kb_per_line})


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
