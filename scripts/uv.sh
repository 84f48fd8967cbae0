#!/usr/bin/env bash
# Runs uv with the given arguments: the uv on PATH or in the user's bin folder when there is one,
# else uv $UV_VERSION installed from PyPI first (pip --user, or a small venv of its own where the
# interpreter refuses --user installs). Used by setup.sh, test.sh, check_build.sh and `make lock`.
# `scripts/uv.sh --which` prints the uv executable's path instead of running it.
set -euo pipefail
PYTHON=${PYTHON:-python3}
UV_VERSION=${UV_VERSION:-0.13.9}
# uv would otherwise download a Python of its own when none fits requires-python: use the one given.
export UV_PYTHON_DOWNLOADS=${UV_PYTHON_DOWNLOADS:-never}

find_uv() {
  local user_bin candidate
  if command -v uv >/dev/null 2>&1; then command -v uv; return 0; fi
  user_bin="$("$PYTHON" -m site --user-base 2>/dev/null)/bin"
  for candidate in "$user_bin/uv" "$HOME/.local/bin/uv" "${XDG_CACHE_HOME:-$HOME/.cache}/swapbot/uv-venv/bin/uv"; do
    if [ -x "$candidate" ]; then echo "$candidate"; return 0; fi
  done
  return 1
}

if ! uv=$(find_uv); then
  echo "uv not found: installing uv==$UV_VERSION from PyPI" >&2
  if ! "$PYTHON" -m pip install --quiet --user "uv==$UV_VERSION" >&2; then
    # An externally managed interpreter (PEP 668) refuses --user installs: a venv of uv's own.
    bootstrap="${XDG_CACHE_HOME:-$HOME/.cache}/swapbot/uv-venv"
    "$PYTHON" -m venv "$bootstrap"
    "$bootstrap/bin/python" -m pip install --quiet "uv==$UV_VERSION" >&2
  fi
  uv=$(find_uv)
fi
if [ "${1:-}" = "--which" ]; then echo "$uv"; exit 0; fi
exec "$uv" "$@"
