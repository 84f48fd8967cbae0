.PHONY: run test bench lint lock

# The main job on embedded defaults: a face swap between two real photos from installed packages,
# or the bot itself when a bot token is set (SQLite, in-process queue, classic engine).
run:
	bash scripts/setup.sh --dev
	.venv/bin/swapbot run

# Everything: starts Postgres and Redis if needed, installs, lints, runs the whole suite, then every
# benchmark in its quick mode.
test:
	bash scripts/test.sh

# Every benchmark in full (several minutes): starts Postgres and Redis and sets up the venv itself.
bench:
	bash scripts/bench.sh

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/lint-imports && .venv/bin/mypy

# Re-resolve uv.lock from pyproject's ranges, to the newest releases they allow (LOCK_FLAGS= keeps the
# current pins and only adds or drops what pyproject changed). Then `make test` installs and tests it;
# read the changelogs of anything that moved a major (README, "Updating dependencies").
LOCK_FLAGS ?= --upgrade
lock:
	bash scripts/uv.sh lock $(LOCK_FLAGS)
