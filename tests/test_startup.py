"""What a plain crawl imports at start: not the distributed machinery, not aiohttp.

Every ``scrapy`` command imports every spider, command and listed extension. Importing
redis (with scrapy-redis and zstandard) took 93 ms and aiohttp 173 ms, at every start of
every crawl and report.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.crawl import REPO, TEST_SETTINGS, write_site

pytestmark = pytest.mark.e2e

NOT_AT_START = ("redis", "scrapy_redis", "aiohttp")


# Runs the real `scrapy` command line, then writes the names of every module it imported.
PROBE = """
import atexit, runpy, sys
out, sys.argv = sys.argv[1], ["scrapy", *sys.argv[2:]]
atexit.register(lambda: open(out, "w").write("\\n".join(sys.modules)))
runpy.run_module("scrapy", run_name="__main__")
"""


def imported(command: list[str], out: Path) -> set[str]:
    process = subprocess.run([sys.executable, "-c", PROBE, str(out), *command],
                             cwd=REPO, capture_output=True, text=True, timeout=120)
    assert process.returncode == 0, process.stderr[-3000:]
    return set(out.read_text().splitlines())


def test_a_plain_crawl_imports_neither_redis_nor_aiohttp(tmp_path):
    site = write_site(tmp_path / "site", {"_news/a.md": {"title": "A"}})
    settings = [arg for name, value in TEST_SETTINGS.items() for arg in ("-s", f"{name}={value}")]
    modules = imported(["crawl", "links", "-a", f"source={site}",
                        "-s", f"LINKHEALTH_DB={tmp_path / 'db.sqlite'}", *settings],
                       tmp_path / "modules.txt")
    assert "spiders.links" in modules and "crawler.store.database" in modules  # the probe sees imports
    assert not modules & set(NOT_AT_START)


def test_other_commands_import_neither(tmp_path):
    modules = imported(["list"], tmp_path / "modules.txt")
    assert "spiders.links_worker" in modules and "crawler.commands.ingest" in modules
    assert not modules & set(NOT_AT_START)
