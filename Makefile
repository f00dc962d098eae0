# Every target bootstraps .venv itself: a fresh machine needs only Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench clean render-deps docs docs-gen docs-serve

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (found %s)" % sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	bash scripts/demo.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy --strict vrb_compile runtime

# The mermaid renderer the diagram tests load into headless Chromium (pinned by the lock file).
MERMAID := tools/mermaid/node_modules/mermaid/dist/mermaid.min.js
$(MERMAID): tools/mermaid/package-lock.json
	@if command -v npm >/dev/null; then npm ci --prefix tools/mermaid --no-audit --no-fund --silent; \
	else echo "npm not found: Mermaid rendering tests will skip (and fail under CI=true)"; fi

render-deps: $(MERMAID)

unit: $(STAMP) render-deps
	$(BIN)/python -m pytest -n auto -q

test: lint typecheck unit

# The docs pages generated from code (rules, CLI reference, examples gallery), then the site.
docs-gen: $(STAMP)
	$(BIN)/python -m tools.docs

docs: docs-gen
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict -d site

docs-serve: docs-gen
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve

# Benchmarks against the floors and DBOS Transact (issue 8): results.json + docs/benchmarks.md.
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .vrb_cache build site
