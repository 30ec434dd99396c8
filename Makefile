# linkhealth — `make crawl` and `make test` are the quick start (see README.md).
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
SOURCE ?= examples/site
DB     ?= state/linkhealth.db
REPORT ?= state/report.md

.PHONY: crawl report test install clean

$(BIN)/scrapy: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/scrapy

## Crawl SOURCE (default: the bundled sample site) into DB, then write the Markdown report.
crawl: install
	$(BIN)/scrapy crawl links -a source=$(SOURCE) -s LINKHEALTH_DB=$(DB)
	$(BIN)/scrapy report --db $(DB) -o $(REPORT)
	@echo "Report written to $(REPORT)"

report: install
	$(BIN)/scrapy report --db $(DB) -o $(REPORT)

## Install, then run the whole test suite.
test: install
	$(BIN)/pytest -q

clean:
	rm -rf $(VENV) state/*.db state/*.db-* state/report.*
