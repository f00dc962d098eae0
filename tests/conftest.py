"""Shared fixtures (write a small package under tmp_path and check it) and Hypothesis profiles.

Hypothesis profiles, chosen by ``VRB_HYPOTHESIS_PROFILE``:

* ``default`` - what ``make test`` runs: the property suite (tests/properties/)
  stays within a few minutes on two cores;
* ``ci-deep`` - what ``.ci/run`` selects: many more examples per property.

Properties size their example counts with :func:`tests.properties.budget`, which
reads the same variable, so one switch scales every property.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from vrb_compile.api import CheckConfig, CheckResult, check_paths

CheckFiles = Callable[..., CheckResult]

# Generated programs are compiled and run on real stores: an example takes tens of
# milliseconds, which is what these health checks would complain about.
_SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
settings.register_profile("default", deadline=None, suppress_health_check=_SLOW_OK, print_blob=True)
settings.register_profile("ci-deep", deadline=None, suppress_health_check=_SLOW_OK, print_blob=True)
settings.load_profile(os.environ.get("VRB_HYPOTHESIS_PROFILE", "").strip() or "default")


@pytest.fixture(autouse=True, scope="session")
def _cache_key_outside_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The checker's cache key (``vrb_compile.cache``) for this session, not ``~/.cache``'s."""
    with pytest.MonkeyPatch.context() as patch:
        key = tmp_path_factory.mktemp("vrb-compile-key") / "cache.key"
        patch.setenv("VRB_COMPILE_CACHE_KEY_FILE", str(key))
        yield


@pytest.fixture
def check_files(tmp_path: Path) -> CheckFiles:
    """``check_files({"shop/flows.py": "..."}, pure=(...))`` writes the files and checks them."""

    def run(files: Mapping[str, str], **config: object) -> CheckResult:
        for name, text in files.items():
            path = tmp_path / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        options = {"jobs": 1, **config}
        return check_paths([tmp_path], CheckConfig(**options), cwd=tmp_path)  # type: ignore[arg-type]

    return run
