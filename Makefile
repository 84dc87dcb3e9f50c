# Tett på — the three commands of the README.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint bench clean messages

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

run: install
	$(BIN)/tettpa db upgrade
	$(BIN)/tettpa serve

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check .

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache

# Catalogs: extract every msgid from the code, then merge into each language's .po.
messages: install
	$(BIN)/pybabel extract -F babel.cfg -k _ -k n_:1,2 --no-location --sort-output --omit-header -o locales/tettpa.pot .
	for lang in nn en uk ar so pl; do \
	  if [ -f locales/$$lang/LC_MESSAGES/tettpa.po ]; then \
	    $(BIN)/pybabel update -i locales/tettpa.pot -d locales -D tettpa -l $$lang --no-fuzzy-matching --omit-header; \
	  else $(BIN)/pybabel init -i locales/tettpa.pot -d locales -D tettpa -l $$lang; fi; \
	done
