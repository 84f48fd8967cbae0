#!/usr/bin/env bash
# The packaging check the test command runs: `python -m build` makes an sdist and a wheel; each installs
# into a clean venv (the lock's versions, base dependencies only) where `swapbot --help` runs, the
# catalogues load in all four languages and `swapbot db upgrade` applies every migration, all from
# outside the clone, so nothing is imported from the working tree.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
uv() { bash "$repo/scripts/uv.sh" "$@"; }
# build's isolated environment (setuptools) is made by uv, which is faster than pip: it needs uv on PATH.
uv_dir=$(dirname "$(bash scripts/uv.sh --which)")
PATH="$uv_dir:$PATH" .venv/bin/python -m build --installer uv --outdir "$work/dist" . >"$work/build.log" 2>&1 \
  || { cat "$work/build.log" >&2; exit 1; }
wheel=$(ls "$work"/dist/swapbot-*.whl)
sdist=$(ls "$work"/dist/swapbot-*.tar.gz)
.venv/bin/python scripts/check_wheel.py "$wheel"
uv export --frozen --quiet --no-hashes --no-emit-project --no-header -o "$work/constraints.txt"
for artifact in "$wheel" "$sdist"; do
  venv="$work/venv-$(basename "$artifact")"
  uv venv --quiet --python "$repo/.venv/bin/python" "$venv"
  uv pip install --quiet --python "$venv/bin/python" -c "$work/constraints.txt" "$artifact"
  (
    cd "$work"
    "$venv/bin/swapbot" --help >/dev/null
    "$venv/bin/python" -c '
import sys
from pathlib import Path
import bot.texts.po as po
assert Path(po.__file__).is_relative_to(sys.prefix), po.__file__  # the installed copy, not the clone
languages = po.read()
assert {"en", "ru", "ko", "vi"} <= set(languages), sorted(languages)
assert all(len(sentences) == len(languages["en"]) > 0 for sentences in languages.values())
'
    DATABASE_URL="sqlite+aiosqlite:///$work/check.db" "$venv/bin/swapbot" db upgrade >"$work/upgrade.log" 2>&1 \
      || { cat "$work/upgrade.log" >&2; exit 1; }
    rm -f "$work/check.db"
  )
  echo "build check: $(basename "$artifact") installs, swapbot --help runs, catalogues and migrations load"
done
