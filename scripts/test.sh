#!/usr/bin/env bash
# The test command (README): services up, dependencies installed, lint (ruff, import contracts, mypy),
# the whole suite, then every benchmark in its quick mode.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/services.sh
bash scripts/setup.sh --dev
# uv.lock must match pyproject.toml (after a dependency change, run `make lock`), and the wheel and
# sdist must build, install into a clean venv and run.
bash scripts/uv.sh lock --check
bash scripts/check_build.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
# DESIGN's layer table as import-linter contracts, and mypy strict on engine/, db/ and jobs/ (pyproject).
.venv/bin/lint-imports
.venv/bin/mypy
set +e
.venv/bin/python -m pytest "$@"
status=$?
set -e
# pytest exits 5 when it collected nothing: that is a failure here, never a pass.
if [ "$status" -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi
if [ "$status" -ne 0 ]; then exit "$status"; fi
# Every benchmark once in its quick mode, so none can rot unseen: one failing fails the test command.
bash scripts/bench.sh --quick
