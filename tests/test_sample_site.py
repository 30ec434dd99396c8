"""The bundled sample site (examples/site) names only hosts that can never resolve, so that
`make crawl` and the docs test make no request to anyone, online or not."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from crawler.site.sources import iter_documents, read_site_config
from tests.crawl import REPO

SAMPLE = REPO / "examples" / "site"
# scheme://authority, wherever it is written (front matter, body, _config.yml, README)
URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s\"'`<>()/]+", re.I)


def hosts_written_in(path) -> set[str]:
    hosts = set()
    for match in URL.finditer(path.read_text(encoding="utf-8")):
        try:
            host = urlsplit(match.group()).hostname
        except ValueError:  # "http://[::1": unparseable on purpose, never requested
            continue
        if host:
            hosts.add(host)
    return hosts


def test_every_host_in_the_sample_site_is_under_invalid():
    files = [path for path in SAMPLE.rglob("*") if path.is_file()]
    hosts = {host: path.relative_to(SAMPLE) for path in files for host in hosts_written_in(path)}
    assert len(hosts) > 15  # the scan does find them
    assert {host: path for host, path in hosts.items() if not host.endswith(".invalid")} == {}


def test_the_site_base_and_every_reference_the_crawler_reads_are_under_invalid():
    base = read_site_config(SAMPLE).base_url
    assert urlsplit(base).hostname.endswith(".invalid")
    urls = [ref.value for document in iter_documents(SAMPLE, body_links=True)
            for ref in document.refs if "://" in ref.value]
    assert len(urls) > 40
    for url in urls:
        try:
            host = urlsplit(url).hostname
        except ValueError:
            continue
        assert host.endswith(".invalid"), url
