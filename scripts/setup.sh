#!/usr/bin/env bash
# Create .venv and install swapbot (and, with --dev, the test tools) into it. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
extras="cpu"
[ "${1:-}" = "--dev" ] && extras="dev"
if [ ! -x .venv/bin/python ]; then "$PYTHON" -m venv .venv; fi
stamp=".venv/.installed-$extras"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[$extras]"
  touch "$stamp"
fi
