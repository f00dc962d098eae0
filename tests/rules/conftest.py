"""Rule tests: let pytest explain failed assertions inside the shared harness."""

import pytest

pytest.register_assert_rewrite("tests.rules.harness")
