"""A bare-Scrapy reference link checker: the floor linkhealth's checking is compared with.

    python bench/reference_spider.py URLS.txt [--per-host 16] [--timeout 30]

(or ``python -m bench.reference_spider ...``). It is a standalone ``CrawlerProcess``
with its own settings: the project's ``scrapy.cfg`` / ``crawler/settings.py`` are never
read (run it from any directory). The concurrency settings are linkhealth's:
``CONCURRENT_REQUESTS=128``, ``CONCURRENT_REQUESTS_PER_DOMAIN`` as given, ``CONCURRENT_ITEMS=1``,
the epoll reactor, ``HTTPERROR_ALLOW_ALL``, no dupefilter, ``REDIRECT_MAX_TIMES=10``.

Each URL of the file (one per line; blank lines and ``#`` comments ignored) is checked
with HEAD; a non-2xx answer is checked again with GET. Nothing is yielded: outcomes are
counted in the stats (``reference/2xx``, ``reference/other``, ``reference/error``...), and
one JSON line is printed on stdout at the end::

    {"reference": true, "urls": N, "checked": N, "ok_2xx": N, "other": N, "errors": N,
     "head_requests": N, "get_requests": N, "statuses": {...}}
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import scrapy
from scrapy.crawler import CrawlerProcess


def read_urls(path: str):
    """The URLs of the file, one per line (blank lines and # comments skipped), lazily."""
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            url = line.strip()
            if url and not url.startswith("#"):
                yield url


class ReferenceSpider(scrapy.Spider):
    name = "reference"

    def __init__(self, urls_file: str, **kwargs):
        super().__init__(**kwargs)
        self.urls_file = urls_file
        self.urls = 0
        self.statuses: Counter[int] = Counter()

    async def start(self):
        for url in read_urls(self.urls_file):
            self.urls += 1
            yield scrapy.Request(url, method="HEAD", callback=self.on_head,
                                 errback=self.on_error, dont_filter=True,
                                 cb_kwargs={"url": url})

    def _count(self, key: str) -> None:
        self.crawler.stats.inc_value(f"reference/{key}")

    def _done(self, status: int | None) -> None:
        self._count("checked")
        if status is None:
            self._count("error")
        else:
            self.statuses[status] += 1
            self._count("2xx" if 200 <= status < 300 else "other")

    def on_head(self, response, url: str):
        self._count("head")
        if 200 <= response.status < 300:
            self._done(response.status)
            return None
        self._count("get")  # HEAD answered wrongly, or the link is broken: confirm with GET
        return scrapy.Request(url, method="GET", callback=self.on_get, errback=self.on_error,
                              dont_filter=True, cb_kwargs={"url": url})

    def on_get(self, response, url: str):
        self._done(response.status)

    def on_error(self, failure):
        self._done(None)

    def closed(self, reason: str) -> None:
        stats = self.crawler.stats

        def get(key: str) -> int:
            return stats.get_value(f"reference/{key}", 0)

        summary = {"reference": True, "reason": reason, "urls": self.urls,
                   "checked": get("checked"), "ok_2xx": get("2xx"), "other": get("other"),
                   "errors": get("error"), "head_requests": get("head"),
                   "get_requests": get("get"),
                   "statuses": {str(k): v for k, v in sorted(self.statuses.items())}}
        sys.stdout.write(json.dumps(summary) + "\n")
        sys.stdout.flush()


def settings(per_host: int, timeout: float, log_level: str = "INFO") -> dict:
    return {
        "CONCURRENT_REQUESTS": 128,
        "CONCURRENT_REQUESTS_PER_DOMAIN": per_host,
        "CONCURRENT_ITEMS": 1,
        "DOWNLOAD_DELAY": 0,
        "TWISTED_REACTOR": "twisted.internet.epollreactor.EPollReactor",
        "HTTPERROR_ALLOW_ALL": True,
        "DOWNLOAD_TIMEOUT": timeout,
        "RETRY_TIMES": 2,
        "REDIRECT_MAX_TIMES": 10,
        "DUPEFILTER_CLASS": "scrapy.dupefilters.BaseDupeFilter",
        "ROBOTSTXT_OBEY": False,
        "TELNETCONSOLE_ENABLED": False,
        "LOG_LEVEL": log_level,
        "WARN_ON_GENERATOR_RETURN_VALUE": False,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Bare-Scrapy reference link checker")
    parser.add_argument("urls_file", type=Path, help="one URL per line")
    parser.add_argument("--per-host", type=int, default=16, help="CONCURRENT_REQUESTS_PER_DOMAIN")
    parser.add_argument("--timeout", type=float, default=30.0, help="DOWNLOAD_TIMEOUT")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    process = CrawlerProcess(settings(args.per_host, args.timeout, args.log_level))
    process.crawl(ReferenceSpider, urls_file=str(args.urls_file.resolve()))
    process.start()


if __name__ == "__main__":
    main()
