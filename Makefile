# Shortcuts for the scripts in scripts/ (each works on its own; see README.md).
.PHONY: run test test-pgbouncer conformance bench bench-quick

run:
	scripts/run

test:
	scripts/test

test-pgbouncer:
	scripts/test-pgbouncer

conformance:
	scripts/conformance

bench:
	scripts/install-bench-deps
	scripts/bench

bench-quick:
	scripts/install-bench-deps
	scripts/bench --quick
