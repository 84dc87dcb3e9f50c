# Tett på — the three commands of the README.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test soak lint bench clean messages chromium

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

run: install
	$(BIN)/tettpa db upgrade
	$(BIN)/tettpa serve

# Two workers (pytest-xdist): most tests wait on sockets and the fake clock, not on the CPU. PYTEST_ARGS
# adds options (CI: --durations=15); TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= 2
PYTEST_ARGS ?=
test: install chromium
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) $(PYTEST_ARGS)

# The long crash soak: many rounds of random SIGKILLs against one service (`make test` runs one round).
SOAK_ROUNDS ?= 10
soak: install
	TETTPA_TEST_CRASH_ROUNDS=$(SOAK_ROUNDS) TETTPA_TEST_CRASH_MESSAGES=10 $(BIN)/python -m pytest -q -s tests/test_crash.py $(PYTEST_ARGS)

# The dashboard's browser tests drive Debian's Chromium (Playwright never downloads a browser), and the
# PDF export uses Debian's DejaVu font. Installed only when missing.
chromium:
	@if [ ! -x /usr/bin/chromium ] || [ ! -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || [ ! -x /usr/bin/pdftoppm ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-dejavu-core poppler-utils; \
	fi

lint: install
	$(BIN)/ruff check .

# `make bench` runs the five goals of docs/PERFORMANCE.md; `make bench BENCH="bench.import_people"` others.
bench: install
	$(BIN)/python -m bench $(BENCH)

clean:
	rm -rf $(VENV) .pytest_cache

# Catalogs: extract every msgid from the code, then merge into each language's .po.
messages: install
	$(BIN)/pybabel extract -F babel.cfg -k _ -k n_:1,2 --no-location --sort-output --omit-header --width 100 -o locales/tettpa.pot .
	for lang in nn en uk ar so pl; do \
	  if [ -f locales/$$lang/LC_MESSAGES/tettpa.po ]; then \
	    $(BIN)/pybabel update -i locales/tettpa.pot -d locales -D tettpa -l $$lang --no-fuzzy-matching --width 100 --ignore-pot-creation-date; \
	  else $(BIN)/pybabel init -i locales/tettpa.pot -d locales -D tettpa -l $$lang; fi; \
	done
