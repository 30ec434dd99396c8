"""The documentation stays true: every setting documented in docs/configuration.md with its
default (the table is ``python -m crawler.defaults``'s output), quick-start commands work."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from crawler import defaults
from crawler import settings as project_settings
from crawler.defaults import SETTINGS
from tests.crawl import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")
CONFIGURATION = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")

@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.name)
def test_every_linkhealth_setting_is_documented_with_its_default(setting):
    row = re.search(rf"^\| `{setting.name}` \| `([^`]*)` \|", CONFIGURATION, re.M)
    assert row, f"{setting.name} missing from the settings table of docs/configuration.md"
    default = setting.default if isinstance(setting.default, str) else json.dumps(setting.default)
    assert row.group(1) == (default or '""')


def test_the_settings_table_is_the_declarations_output():
    assert defaults.with_table(CONFIGURATION) == CONFIGURATION, (
        "docs/configuration.md is stale: run .venv/bin/python -m crawler.defaults --write")


def test_python_m_crawler_defaults_write_rewrites_a_stale_table(tmp_path):
    stale = CONFIGURATION.replace("| `LINKHEALTH_DB` | `state/linkhealth.db` |",
                                  "| `LINKHEALTH_DB` | `old.db` |")
    assert stale != CONFIGURATION
    document = tmp_path / "configuration.md"
    document.write_text(stale, encoding="utf-8")
    command = [sys.executable, "-m", "crawler.defaults", "--write", str(document)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert document.read_text(encoding="utf-8") == CONFIGURATION
    assert "rewritten" in done.stdout

    document.write_text("# no table here\n", encoding="utf-8")
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "no settings table" in done.stderr
    assert document.read_text(encoding="utf-8") == "# no table here\n"


def test_no_undeclared_linkhealth_setting_is_used():
    used = set()
    for path in [*(REPO / "crawler").rglob("*.py"), *(REPO / "spiders").rglob("*.py")]:
        used |= set(re.findall(r"\bLINKHEALTH_[A-Z_]+\b", path.read_text(encoding="utf-8")))
    declared = {s.name for s in SETTINGS}
    assert used - declared == set()


def test_settings_module_carries_every_default():
    for setting in SETTINGS:
        assert getattr(project_settings, setting.name) == setting.default


def test_quick_start_make_crawl_works(tmp_path):
    """`make crawl` as in the README (reusing this venv instead of creating one)."""
    venv = Path(sys.prefix)
    db, report = tmp_path / "quick.db", tmp_path / "report.md"
    process = subprocess.run(
        ["make", "-o", f"{venv}/bin/scrapy", "crawl", f"VENV={venv}", f"DB={db}", f"REPORT={report}"],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert process.returncode == 0, process.stderr[-3000:]
    text = report.read_text(encoding="utf-8")
    assert "## Problems by document" in text
    assert "`_news/2023-01-16-odd-links.md`" in text
    assert "## Documents that could not be parsed" in text and "2023-01-15-broken-yaml.md" in text


def test_readme_quick_start_is_two_make_commands():
    block = re.search(r"## Quick start.*?```sh\n(.*?)```", README, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]
    assert commands == ["make crawl", "make test"]
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^crawl:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
    assert "make test" in (REPO / ".ci" / "run").read_text(encoding="utf-8")
