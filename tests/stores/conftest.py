"""Store fixtures: one harness per backend, so every check runs on every store."""

from __future__ import annotations

import pytest

# The conformance checks live in the runtime package; rewrite their asserts so a
# failing check shows the values it compared.
pytest.register_assert_rewrite("runtime.testing")
