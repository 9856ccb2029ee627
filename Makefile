# Everything a fresh machine needs, in two commands:
#   make run    install, migrate the embedded SQLite database, start on http://127.0.0.1:8000
#   make test   install (with test tools and Debian's Chromium), run the whole test suite
# Set TRAINER_TEST_DATABASE_URL=postgresql+psycopg://user@host:5432/db to run the suite on PostgreSQL.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
CHROMIUM ?= /usr/bin/chromium

# The exam start storm's floor for `make bench`'s guard (ratio to the reference; issue 17).
STORM_FLOOR ?= 0.4

.PHONY: run test lint check bench install browser nginx clean

run: $(VENV)/.installed
	$(BIN)/trainer serve $(ARGS)

test: $(VENV)/.installed browser nginx
	$(BIN)/pytest -n auto --dist loadgroup $(ARGS)

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

check: lint
	$(BIN)/trainer check

bench: $(VENV)/.installed
	@command -v wrk >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq wrk; }
	$(BIN)/python bench/module_page.py $(ARGS)
	$(BIN)/python bench/bank.py
	$(BIN)/python bench/exam_day.py --inspectors 300 --databases sqlite --storm-seconds 1 \
		--paced-seconds 5 --steady-seconds 5 --burst-seconds 2 --guard-storm $(STORM_FLOOR)

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

# Browser tests drive Debian's Chromium (Playwright's own browser download is not used).
# A small CJK font (1.6 MB) so screenshots of Chinese pages show characters, not boxes.
browser:
	@[ -x "$(CHROMIUM)" ] || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium; }
	@[ -n "$$(fc-list :lang=zh 2>/dev/null)" ] || { $(SUDO) apt-get install -y -qq fonts-wqy-microhei || $(SUDO) sh -c 'apt-get update -qq && apt-get install -y -qq fonts-wqy-microhei'; }
	@command -v npm >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq npm; }
	@[ -f node_modules/axe-core/axe.min.js ] || npm ci --no-audit --no-fund --silent

# tests/test_deployment.py runs deploy/'s nginx site in front of two app processes (on PostgreSQL).
nginx:
	@command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq nginx; }

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache test-artifacts
