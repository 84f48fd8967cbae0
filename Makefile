.PHONY: run test bench lint

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
