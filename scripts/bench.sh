#!/usr/bin/env bash
# Every benchmark, one after another, each printing its table (README). Starts Postgres and Redis and
# sets up the venv first, so it runs from a fresh clone. Arguments go to each benchmark: `--quick`
# (what `make test` runs) takes seconds each; without it, the full runs take several minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/services.sh
bash scripts/setup.sh --dev
for bench in swap_engine credit_ledger job_queue telegram_bot photo_latency web; do
  echo
  echo "== bench.$bench $*"
  .venv/bin/python -m "bench.$bench" "$@"
done
