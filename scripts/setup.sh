#!/usr/bin/env bash
# Create .venv and install swapbot (and, with --dev, the test tools) into it, at the exact versions of
# uv.lock: `uv sync --frozen` installs what the lock says and fails rather than re-resolve. Idempotent
# (a second run checks the environment against the lock and changes nothing).
# Extras: cpu (onnxruntime) by default, dev (onnxruntime and the test tools) with --dev; the gpu
# extra is the GPU worker image's (docker/Dockerfile.worker), or `SWAPBOT_EXTRA=gpu`.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
extra=${SWAPBOT_EXTRA:-cpu}
[ "${1:-}" = "--dev" ] && extra="dev"
# The interpreter itself, not a shim (pyenv), so uv builds .venv on the same Python every time.
python_exe=$("$PYTHON" -c 'import sys; print(sys.executable)')
export UV_PROJECT_ENVIRONMENT=.venv
PYTHON="$PYTHON" bash scripts/uv.sh sync --frozen --quiet --python "$python_exe" --extra "$extra"
