"""Store fixtures: one harness per backend, so every check runs on every store.

The PostgreSQL fixtures (``postgres_server``, ``postgres_schema``,
``postgres_url``) come from :mod:`tests.pg_fixtures`: skipped without a server,
failed under ``CI=true``.
"""

from __future__ import annotations

import pytest

from tests.pg_fixtures import (  # noqa: F401 - fixtures are found by name
    drop_schema,
    postgres_schema,
    postgres_server,
    postgres_url,
    with_schema,
)

# The conformance checks live in the runtime package (runtime.testing and the
# runtime._conformance modules behind it); rewrite their asserts so a failing
# check shows the values it compared.
pytest.register_assert_rewrite("runtime.testing", "runtime._conformance")
