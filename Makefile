# The two commands of the README: `make demo` starts the whole product on its embedded default,
# `make test` runs the whole test suite. Both install what is missing first.
.PHONY: demo test setup setup-test lint bench bench-history bench-alerts

demo: setup
	.venv/bin/ioc demo

test: setup-test
	.venv/bin/ruff check .
	.venv/bin/mypy
	.venv/bin/pytest

setup:
	scripts/setup.sh

setup-test:
	scripts/setup.sh --test

lint: setup-test
	.venv/bin/ruff check .
	.venv/bin/mypy

bench: setup
	.venv/bin/python -m bench.ingest_throughput

bench-history: setup
	.venv/bin/python -m bench.history_rollups

# Breach-to-notification latency against Prometheus + Alertmanager (installed from Debian if missing).
bench-alerts: setup
	.venv/bin/python -m bench.alert_latency
