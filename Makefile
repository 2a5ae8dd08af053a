# Tasks for working on ssdk. Each target is one command a developer (or CI, .ci/run)
# runs; the README's two commands (`./demo`, `python3 -m pytest -q`) need none of this.
#
#   make test        the whole suite (as root, the network tests too)
#   make test-fast   unit and stack tiers only: no root, no network, seconds
#   make lint        ruff (lint; the formatter on ssdk/), mypy --strict on ssdk/, the
#                    CLI reference against the command, the C core's layers
#   make format      ruff's formatter on ssdk/
#   make sanitize    the stack tests against an ASan/UBSan build of the C core
#   make fuzz        the libFuzzer targets, FUZZ_SECONDS each (default 30)
#   make docs        the user guide as a site, strict (a broken link fails)
#   make bench       ssdk against nginx, issue 13's goal rows (root; minutes)
#   make ci          what .ci/run runs after the README's commands
PYTHON ?= python3
FUZZ_SECONDS ?= 30

.PHONY: test test-fast lint format sanitize fuzz docs bench ci

test:
	$(PYTHON) -m pytest -q

test-fast:
	$(PYTHON) -m pytest -q tests/unit tests/stack tests/tls

lint:
	ruff check ssdk tests bench examples templates
	ruff format --check ssdk
	mypy
	$(PYTHON) scripts/gen-cli-docs --check
	$(PYTHON) scripts/check-layers

format:
	ruff format ssdk

sanitize:
	scripts/sanitize-stack

fuzz:
	fuzz/run.sh $(FUZZ_SECONDS)

docs:
	mkdocs build --strict -d /tmp/ssdk-site

bench:
	$(PYTHON) -m bench.wrk_vs_nginx --headline --no-ceiling \
		--out bench/results/wrk_vs_nginx_headline.json

ci: lint docs sanitize fuzz
