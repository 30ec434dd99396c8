"""Wayback Machine lookups for failing links, against a stand-in CDX API on loopback."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from crawler.archive.wayback import around_date, cdx_query_url, closest, parse_cdx, playback_url
from crawler.core.urls import normalise
from crawler.defaults import DEFAULTS
from tests.crawl import crawl, wayback_settings, write_site
from tests.webserver import Web, free_port

PUBLISHED = "2021-03-05T14:51:00Z"


def site_with_a_dead_link(tmp_path, web):
    return write_site(tmp_path / "site", {"_news/2021-03-05-article.md": {
        "title": "Article", "publishedDateTime": PUBLISHED,
        "webUrl": web.url("/status/404?dead=1"), "originalUrl": web.url("/ok?alive=1"),
    }})


def lookups(result):
    return list(result.db.query("SELECT u.url, w.* FROM wayback w JOIN urls u ON u.id = w.url_id"))


def cdx_requests(web):
    return [r for r in web.requests if r.target.startswith("/cdx/")]


@pytest.mark.e2e
def test_capture_closest_to_the_publish_date_is_found_and_cached(tmp_path):
    with Web() as web:
        web.cdx["timestamps"] = ["20190101000000", "20210301120000", "20230101000000"]
        site, db = site_with_a_dead_link(tmp_path, web), tmp_path / "db.sqlite"
        settings = wayback_settings(web.url("/cdx/search/cdx"))
        first = crawl(site, db, settings=settings)
        [request] = cdx_requests(web)  # only the failing URL is looked up
        crawl(site, db, settings=settings)
        assert len(cdx_requests(web)) == 1  # the second run used the cached answer
    query = parse_qs(urlsplit(request.target).query)
    assert query == {"url": [web.url("/status/404?dead=1")], "output": ["json"],
                     "filter": ["statuscode:200"], "from": ["20200305"], "to": ["20220305"],
                     "fl": ["timestamp,original,statuscode"], "limit": ["100"]}
    [row] = lookups(first)
    assert (row["url"], row["around"], row["status"], row["timestamp"]) == (
        normalise(web.url("/status/404?dead=1")), "2021-03-05", "found", "20210301120000")
    assert row["capture_url"] == "https://web.archive.org/web/20210301120000/" + web.url("/status/404?dead=1")


@pytest.mark.e2e
@pytest.mark.parametrize("mode, error", [("429", "CDX answered HTTP 429"), ("500", "CDX answered HTTP 500")])
def test_rate_limited_and_failing_lookups_never_fail_the_run(tmp_path, mode, error):
    with Web() as web:
        web.cdx["mode"] = mode
        result = crawl(site_with_a_dead_link(tmp_path, web), tmp_path / "db.sqlite",
                       settings=wayback_settings(web.url("/cdx/search/cdx")))
        attempts = len(cdx_requests(web))
    assert result.run()["status"] == "finished"
    assert result.check(normalise(web.url("/status/404?dead=1")))["outcome"] == "broken"
    [row] = lookups(result)
    assert (row["status"], row["error"]) == ("error", error)
    # 429 is retried while the host is paced (Retry-After honoured)
    assert attempts == (1 + DEFAULTS["LINKHEALTH_RATE_LIMIT_RETRIES"] if mode == "429" else 1)


@pytest.mark.e2e
def test_unreachable_cdx_endpoint_is_recorded_as_an_error(tmp_path):
    with Web() as web:
        result = crawl(site_with_a_dead_link(tmp_path, web), tmp_path / "db.sqlite",
                       settings=wayback_settings(f"http://127.0.0.1:{free_port()}/cdx/search/cdx"))
    [row] = lookups(result)
    assert row["status"] == "error" and "refused" in row["error"].lower()
    assert result.run()["status"] == "finished"


@pytest.mark.e2e
def test_no_capture_is_recorded_as_none(tmp_path):
    with Web() as web:
        result = crawl(site_with_a_dead_link(tmp_path, web), tmp_path / "db.sqlite",
                       settings=wayback_settings(web.url("/cdx/search/cdx")))
    [row] = lookups(result)
    assert (row["status"], row["capture_url"]) == ("none", None)


# -- the pure parts -------------------------------------------------------------------------

def test_around_date_from_front_matter_or_today():
    assert around_date("2021-03-05T14:51:00Z") == "2021-03-05"
    assert around_date("2021-03-05") == "2021-03-05"
    import datetime as dt
    assert around_date(None, today=dt.date(2026, 1, 2)) == "2026-01-02"
    assert around_date("not a date", today=dt.date(2026, 1, 2)) == "2026-01-02"


def test_cdx_answers_are_parsed_and_the_closest_capture_wins():
    body = (b'[["timestamp","original","statuscode"],["20200101000000","http://x/","200"],'
            b'["20210310000000","http://x/","200"]]')
    captures = parse_cdx(body)
    assert captures == [("20200101000000", "http://x/"), ("20210310000000", "http://x/")]
    assert closest(captures, "2021-03-05") == ("20210310000000", "http://x/")
    assert parse_cdx(b"[]") == [] and parse_cdx(b"") == []
    assert closest([], "2021-03-05") is None


def test_cdx_query_and_playback_urls():
    url = cdx_query_url("http://cdx.test/cdx/search/cdx", "http://a.example/x?y=1", "2021-03-05", 86400)
    assert parse_qs(urlsplit(url).query)["from"] == ["20210304"]
    assert playback_url("https://web.archive.org/web/", "2021", "http://a/") == "https://web.archive.org/web/2021/http://a/"


def test_a_capture_url_is_a_url_whatever_the_cdx_answer_holds():
    """A space, a quote, a line break or non-ASCII text in the CDX answer's ``original`` is
    percent-encoded; what a URL may hold, escapes included, stays byte for byte."""
    prefix = "https://web.archive.org/web/"
    kept = "http://a.example/p//q%2Cr;s=1?x=a+b&y=[1]#f~!$'()*,@"
    assert playback_url(prefix, "2021", kept) == prefix + "2021/" + kept
    assert playback_url(prefix, "2021", 'http://a.example/my page"\r\n<x>é') == (
        prefix + "2021/http://a.example/my%20page%22%0D%0A%3Cx%3E%C3%A9")
