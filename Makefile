.PHONY: run test bench lint

# The main job on embedded defaults: a face swap between two real photos from installed packages,
# or the bot itself when a bot token is set (SQLite, in-process queue, classic engine).
run:
	bash scripts/setup.sh --dev
	.venv/bin/swapbot run

# Everything: starts Postgres and Redis if needed, installs, lints, runs the whole suite.
test:
	bash scripts/test.sh

bench:
	bash scripts/setup.sh --dev
	.venv/bin/python bench/engine.py

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .
