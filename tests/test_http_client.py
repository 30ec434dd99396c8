"""The lean HTTP/1.1 client (crawler/fetch/client.py) against Scrapy's own, on real servers.

The same site is crawled twice, once with each client (``LINKHEALTH_LEAN_CLIENT``), over
the test web's behaviours and a raw socket server's unusual but real-world answers:
every check and every snapshot must come out the same. Then what only the lean client
does: the request target byte-exact, connections kept alive, and a request that meets a
keep-alive connection the server had just closed sent again.
"""

from __future__ import annotations

from contextlib import ExitStack

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crawler.fetch.message import ChunkedBody, split_url
from crawler.core.urls import normalise
from tests.crawl import checks_and_snapshots, crawl, write_site
from tests.raw_server import QUIRKS, RawServer
from tests.webserver import Web

@pytest.fixture(scope="module")
def servers():
    with ExitStack() as stack:
        yield stack.enter_context(Web()), stack.enter_context(RawServer())


def site_for(web: Web, raw: RawServer):
    web_paths = ["/ok", "/status/404", "/status/500", "/redirect/301?to=/ok", "/chain/3",
                 "/loop/a", "/to-home", "/soft404", "/blocked", "/image.png",
                 "/big/200", "/gzip", "/length-lie/long", "/length-lie/short", "/not-http",
                 "/head/405", "/reset"]
    urls = [web.url(p) for p in web_paths] + [raw.url(p) for p in QUIRKS]
    return {"_news/2024-05-01-quirks.md": {"title": "Quirks", "related": [{"webUrl": u} for u in urls]}}


@pytest.mark.e2e
@pytest.mark.parametrize("archive", ["1", "0"], ids=["archive-GET", "check-HEAD"])
def test_both_clients_record_the_same_checks_and_snapshots(servers, tmp_path, archive):
    web, raw = servers
    site = write_site(tmp_path / "site", site_for(web, raw))
    settings = {"LINKHEALTH_ARCHIVE": archive, "RETRY_TIMES": "0"}
    lean = checks_and_snapshots(crawl(site, tmp_path / "lean.db",
                                      settings={**settings, "LINKHEALTH_LEAN_CLIENT": "1"}))
    scrapy = checks_and_snapshots(crawl(site, tmp_path / "scrapy.db",
                                        settings={**settings, "LINKHEALTH_LEAN_CLIENT": "0"}))
    assert lean.keys() == scrapy.keys()
    assert len(lean) == 17 + len(QUIRKS)
    for url in lean:
        lean_row, scrapy_row = dict(lean[url]), dict(scrapy[url])
        lean_error, scrapy_error = lean_row.pop("error"), scrapy_row.pop("error")
        assert (url, lean_row) == (url, scrapy_row)
        assert bool(lean_error) == bool(scrapy_error), url
    outcomes = {url.removeprefix(raw.url("")): row["outcome"] for url, row in lean.items()
                if url.startswith(raw.url(""))}
    assert outcomes["/chunked"] == outcomes["/interim"] == outcomes["/folded"] == "ok"
    assert outcomes["/bad-status"] == outcomes["/bad-version"] == "connection_error"


@pytest.mark.e2e
def test_quirky_answers_read_as_browsers_read_them(servers, tmp_path):
    web, raw = servers
    site = write_site(tmp_path / "site", site_for(web, raw))
    result = crawl(site, tmp_path / "db.sqlite", settings={"RETRY_TIMES": "0"})
    rows = checks_and_snapshots(result)

    def row(path):
        return rows[normalise(raw.url(path))]

    assert row("/chunked")["size"] == len(b"<p>hello</p>\n")
    assert row("/chunked-cut")["truncated"] == row("/bad-chunk")["truncated"] == 1
    assert row("/http10")["protocol"] == "HTTP/1.0"
    assert row("/folded")["headers"] == [
        ("Content-Length", "2"), ("X-Folded", "first\tsecond"), ("Content-Type", "text/html"),
        ("X-Twice", "1"), ("X-Twice", "2")]
    assert row("/close")["headers"] == [("Content-Length", "2"), ("Content-Type", "text/html")]
    assert row("/moved")["final_url"] == raw.url("/chunked")
    assert row("/no-reason")["outcome"] == "broken"
    assert row("/te-and-length")["size"] == len(b"hello")
    for path in ("/two-lengths", "/te-unknown", "/te-twice", "/bad-status", "/bad-version"):
        assert row(path)["outcome"] == "connection_error", path
        assert row(path)["error"], path


@pytest.mark.e2e
def test_the_request_target_is_sent_as_written(tmp_path):
    with RawServer() as raw:
        written = raw.url("/a//b/%2C/c%2fd;p=1?q=%2C&empty=&x=%20#fragment")
        site = write_site(tmp_path / "site", {"_news/2024-05-01-a.md": {"title": "A", "webUrl": written}})
        crawl(site, tmp_path / "db.sqlite")
        assert raw.request_lines[0].split(b" ")[1] == b"/a//b/%2C/c%2fd;p=1?q=%2C&empty=&x=%20"


@pytest.mark.e2e
def test_connections_are_kept_alive(tmp_path):
    with RawServer() as raw:
        paths = [f"/chunked?n={n}" for n in range(30)]
        site = write_site(tmp_path / "site", {"_news/2024-05-01-a.md": {
            "title": "A", "related": [{"webUrl": raw.url(p)} for p in paths]}})
        result = crawl(site, tmp_path / "db.sqlite", settings={"CONCURRENT_REQUESTS_PER_DOMAIN": "2"})
        assert {r["outcome"] for r in checks_and_snapshots(result).values()} == {"ok"}
        assert len(raw.request_lines) == 30
        assert raw.connections <= 4


@pytest.mark.e2e
def test_a_keep_alive_connection_closed_by_the_server_is_not_a_broken_link(tmp_path):
    with RawServer(drop_reused=True) as raw:
        urls = [raw.url(f"/same-lengths?n={n}") for n in range(6)]
        site = write_site(tmp_path / "site", {"_news/2024-05-01-a.md": {
            "title": "A", "related": [{"webUrl": u} for u in urls]}})
        result = crawl(site, tmp_path / "db.sqlite",
                       settings={"CONCURRENT_REQUESTS_PER_DOMAIN": "1", "RETRY_TIMES": "0"})
        rows = checks_and_snapshots(result)
        assert {rows[normalise(u)]["outcome"] for u in urls} == {"ok"}
        assert {rows[normalise(u)]["attempts"] for u in urls} == {1}
        assert raw.dropped >= 1


@pytest.mark.e2e
def test_a_protocol_switch_nobody_asked_for_ends_the_check_at_once(tmp_path):
    """Issue 15: a 101 was taken for an interim answer, and the check waited for its timeout.
    We never send Upgrade, so nothing HTTP follows a 101: the exchange fails at once."""
    with RawServer() as raw:
        url = raw.url("/switch")
        site = write_site(tmp_path / "site", {"a.md": {"title": "A", "webUrl": url}})
        settings = {"RETRY_TIMES": "0"}
        lean = crawl(site, tmp_path / "lean.db", settings=settings).check(normalise(url))
        scrapy = crawl(site, tmp_path / "scrapy.db", settings={
            **settings, "LINKHEALTH_LEAN_CLIENT": "0"}).check(normalise(url))
    assert (lean["outcome"], lean["error"]) == (
        "connection_error", "ProtocolSwitched: server switched protocols (101) without being asked")
    # Twisted's parser, under Scrapy's client, skips the 101 and waits for another answer.
    assert scrapy["outcome"] == "timeout"


@given(st.lists(st.binary(min_size=1, max_size=300), max_size=8), st.data())
def test_a_chunked_body_decodes_however_it_is_cut(chunks, data):
    encoded = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(c), c) if i % 2 else b"%X\r\n%s\r\n" % (len(c), c)
                       for i, c in enumerate(chunks)) + b"0\r\nTrailer: x\r\n\r\nNEXT"
    cuts = sorted(data.draw(st.lists(st.integers(0, len(encoded)), max_size=10)))
    decoder, out = ChunkedBody(), []
    for start, end in zip([0, *cuts], [*cuts, len(encoded)]):
        if not decoder.done:
            out += decoder.feed(encoded[start:end])
    assert decoder.done and decoder.error is None
    assert b"".join(out) == b"".join(chunks)
    assert b"NEXT".startswith(decoder.rest)  # what follows the body is left for the next answer


@pytest.mark.parametrize("bad", [b"zz\r\n", b"-1\r\n", b"5\r\nhelloX\r\n", b"1" * 20000])
def test_a_chunked_body_that_is_not_http_stops_with_an_error(bad):
    decoder = ChunkedBody()
    decoder.feed(bad)
    assert decoder.error is not None and not decoder.done


@given(st.lists(st.sampled_from(["a", "", "%2C", "%2c", ";p=1", "b,c", "~x", "%20"]), max_size=6),
       st.sampled_from(["", "?q=%2C", "?", "?a=1&b=", "#frag", "?x#y"]))
def test_the_target_is_the_urls_own_text(segments, tail):
    path = "/" + "/".join(segments)
    scheme, netloc, target = split_url(f"HTTP://user@host.example:8080{path}{tail}")
    assert (scheme, netloc) == ("http", "user@host.example:8080")
    assert target == path + tail.partition("#")[0]
