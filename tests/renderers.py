"""The real renderers our emitted diagrams are checked with.

Mermaid is rendered by the pinned ``mermaid`` npm package (tools/mermaid) in headless
Chromium; DOT by Graphviz's ``dot``. Where a renderer is missing the test skips with
the reason, except under CI (``CI=true``), where a missing renderer is a failure:
``.ci/run`` and the Makefile install them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
MERMAID_JS = ROOT / "tools" / "mermaid" / "node_modules" / "mermaid" / "dist" / "mermaid.min.js"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
    "--allow-file-access-from-files",
    "--virtual-time-budget=20000",
]

_PAGE = """<!doctype html><html><body>
<script src="{script}"></script>
<pre id="out">pending</pre>
<script>
const diagrams = {diagrams};
mermaid.initialize({{startOnLoad: false, securityLevel: "strict"}});
(async () => {{
  const results = [];
  for (let i = 0; i < diagrams.length; i++) {{
    try {{
      const r = await mermaid.render("d" + i, diagrams[i]);
      results.push({{ok: true, svg: r.svg}});
    }} catch (e) {{
      results.push({{ok: false, error: String((e && e.message) || e)}});
    }}
  }}
  document.getElementById("out").textContent = JSON.stringify(results);
}})();
</script></body></html>
"""


def require(tool: str, found: bool, how: str) -> None:
    """Skip (locally) or fail (in CI) when a renderer is not installed."""
    if found:
        return
    message = f"{tool} is not installed ({how})"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}; CI must install it", pytrace=False)
    pytest.skip(message)


def chromium_binary() -> str | None:
    """Path of the Chromium binary, if any."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def render_mermaid(diagrams: list[str]) -> list[dict[str, Any]]:
    """Render each Mermaid source in headless Chromium.

    Returns:
        One dict per diagram: ``{"ok": True, "svg": ...}`` or ``{"ok": False, "error": ...}``.
    """
    chromium = chromium_binary()
    require("chromium", chromium is not None, "apt-get install chromium")
    require("mermaid (npm)", MERMAID_JS.exists(), "make render-deps")
    assert chromium is not None
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "render.html"
        # </script> inside a diagram would end the script element early.
        payload = json.dumps(diagrams).replace("</", "<\\/")
        page.write_text(_PAGE.format(script=MERMAID_JS.as_uri(), diagrams=payload))
        proc = subprocess.run(
            [
                chromium,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={tmp}/profile",
                "--dump-dom",
                page.as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    match = re.search(r'<pre id="out">(.*?)</pre>', proc.stdout, re.DOTALL)
    assert match, f"chromium produced no result (exit {proc.returncode}): {proc.stderr[-2000:]}"
    import html

    text = html.unescape(match.group(1))
    assert text != "pending", "mermaid did not finish rendering within the time budget"
    results: list[dict[str, Any]] = json.loads(text)
    return results


def render_dot(source: str, fmt: str = "svg") -> str:
    """Render DOT source with Graphviz; fails the test on any Graphviz error."""
    dot = shutil.which("dot")
    require("graphviz", dot is not None, "apt-get install graphviz")
    assert dot is not None
    proc = subprocess.run(
        [dot, f"-T{fmt}"], input=source, capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, f"dot rejected the graph: {proc.stderr}"
    assert not proc.stderr.strip(), f"dot rejected the graph: {proc.stderr}"
    return proc.stdout
