"""Transfer-Encoding lists, framed and decoded as RFC 9112 section 6 says (issue 15).

The lean client judged a ``Transfer-Encoding`` by its first value: ``gzip, chunked`` was
refused as a ``connection_error``. Scrapy's client (Twisted's parser) does the same, and
reads ``chunked`` then ``gzip`` on two lines as chunked, leaving the gzip undone: where
the two clients differ below, Scrapy's is the one that is wrong.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crawler.fetch.transfer_codings import (
    PIECE,
    BadCoding,
    TransferDecoder,
    UnsupportedCoding,
    transfer_codings,
)
from crawler.core.urls import normalise
from tests.crawl import checks_and_snapshots, crawl, peak_rss, write_site
from tests.raw_server import RawServer
from tests.webserver import _bomb

PAGE = b"<html><head><title>Coded</title></head><body>" + b"<p>transfer-coded</p>" * 200 + b"</body></html>"
CAP = 10 * 1024 * 1024  # LINKHEALTH_ARCHIVE_MAX_BYTES


def chunked(data: bytes, size: int = 1000) -> bytes:
    pieces = [data[i:i + size] for i in range(0, len(data), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"


def head(*lines: str) -> bytes:
    return ("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n" + "".join(f"{line}\r\n" for line in lines)
            + "\r\n").encode()


GZIPPED = gzip.compress(PAGE, mtime=0)
# path -> (head, body, the connection stays open)
ANSWERS = {
    "/gzip-chunked": (head("Transfer-Encoding: gzip, chunked"), chunked(GZIPPED), True),
    "/two-lines": (head("Transfer-Encoding: gzip", "Transfer-Encoding: chunked"), chunked(GZIPPED), True),
    "/deflate-chunked": (head("Transfer-Encoding: deflate, chunked"), chunked(zlib.compress(PAGE)), True),
    "/gzip-to-close": (head("Transfer-Encoding: gzip"), GZIPPED, False),
    # chunked is not the final coding: the body is read until the connection closes
    "/chunked-then-gzip": (head("Transfer-Encoding: chunked", "Transfer-Encoding: gzip"),
                           gzip.compress(chunked(PAGE), mtime=0), False),
    "/with-content-encoding": (head("Content-Encoding: gzip", "Transfer-Encoding: gzip, chunked"),
                               chunked(gzip.compress(GZIPPED, mtime=0)), True),
    "/not-gzip": (head("Transfer-Encoding: gzip"), b"xxxx", False),
    "/gzip-cut": (head("Transfer-Encoding: gzip, chunked"), chunked(GZIPPED[:len(GZIPPED) // 2]), True),
}
DECODED = {"/gzip-chunked", "/two-lines", "/deflate-chunked", "/gzip-to-close", "/chunked-then-gzip",
           "/with-content-encoding"}


@pytest.mark.e2e
def test_transfer_coded_bodies_are_decoded_where_scrapys_client_fails(tmp_path):
    with RawServer(answers=ANSWERS) as raw:
        urls = {path: raw.url(path) for path in ANSWERS}
        site = write_site(tmp_path / "site", {"a.md": {
            "title": "A", "related": [{"webUrl": url} for url in urls.values()]}})
        settings = {"RETRY_TIMES": "0"}
        lean = checks_and_snapshots(crawl(site, tmp_path / "lean.db", settings=settings))
        scrapy = checks_and_snapshots(crawl(site, tmp_path / "scrapy.db", settings={
            **settings, "LINKHEALTH_LEAN_CLIENT": "0"}))
    digest = hashlib.sha256(PAGE).hexdigest()
    for path in DECODED:
        row = lean[normalise(urls[path])]
        assert (row["outcome"], row["size"], row["truncated"]) == ("ok", len(PAGE), 0), path
        assert row["digest"] == digest, path
    assert lean[normalise(urls["/with-content-encoding"])]["content_encoding"] == "gzip"
    for path in ("/not-gzip", "/gzip-cut"):  # cut where it stops decoding, as a broken chunked body
        row = lean[normalise(urls[path])]
        assert (row["outcome"], row["truncated"]) == ("ok", 1), path
        assert row["size"] < len(PAGE)
    scrapy_outcomes = {path: scrapy[normalise(url)]["outcome"] for path, url in urls.items()}
    assert scrapy_outcomes == {
        "/gzip-chunked": "connection_error", "/two-lines": "connection_error",
        "/deflate-chunked": "connection_error", "/gzip-to-close": "connection_error",
        "/with-content-encoding": "connection_error", "/not-gzip": "connection_error",
        "/gzip-cut": "connection_error",
        "/chunked-then-gzip": "ok",  # read as chunked: the gzip bytes taken for chunk sizes
    }
    wrong = scrapy[normalise(urls["/chunked-then-gzip"])]
    assert wrong["truncated"] == 1 and wrong["size"] != len(PAGE)


@pytest.mark.e2e
def test_a_transfer_coded_gzip_bomb_is_cut_at_the_body_cap(tmp_path):
    """1 GiB of zeros, gzip then chunked: read up to LINKHEALTH_ARCHIVE_MAX_BYTES, decoded
    a piece at a time, never inflated whole."""
    bomb = _bomb(1024)
    answers = {"/bomb": (head("Transfer-Encoding: gzip, chunked"), chunked(bomb, 65536), True)}
    with RawServer(answers=answers) as raw:
        url = raw.url("/bomb")
        site = write_site(tmp_path / "site", {"a.md": {"title": "A", "webUrl": url}})
        result = crawl(site, tmp_path / "db.sqlite", settings={"RETRY_TIMES": "0"})
    row = checks_and_snapshots(result)[normalise(url)]
    assert (row["outcome"], row["size"], row["truncated"]) == ("ok", CAP, 1)
    # far below the 1 GiB a whole inflate would need
    assert peak_rss(result.log) < 300 * 1024 * 1024


@pytest.mark.parametrize(("values", "framed", "codings"), [
    ([b"chunked"], True, []),
    ([b"Chunked"], True, []),
    ([b"gzip, chunked"], True, [b"gzip"]),
    ([b"gzip", b"chunked"], True, [b"gzip"]),
    ([b"gzip,,  CHUNKED"], True, [b"gzip"]),
    ([b"x-gzip;q=1, chunked"], True, [b"x-gzip"]),
    ([b"deflate", b"gzip, chunked"], True, [b"deflate", b"gzip"]),
    ([b"gzip"], False, [b"gzip"]),
    ([b"chunked", b"gzip"], False, [b"chunked", b"gzip"]),
    ([b"identity"], False, []),
    ([b"identity, chunked"], True, []),
])
def test_codings_form_one_list_and_chunked_frames_only_as_the_last(values, framed, codings):
    assert transfer_codings(values) == (framed, codings)


@pytest.mark.parametrize("values", [[b"chunked, chunked"], [b"chunked", b"chunked"], [b"br, chunked"],
                                    [b"compress"], [b"gzip, " * 5 + b"chunked"]])
def test_codings_that_cannot_be_read_are_refused(values):
    with pytest.raises(UnsupportedCoding):
        transfer_codings(values)


CODERS = {
    b"gzip": lambda data: gzip.compress(data, mtime=0),
    b"deflate": zlib.compress,
    b"chunked": lambda data: chunked(data, 7),
}


@given(st.binary(max_size=5000), st.lists(st.sampled_from([b"gzip", b"deflate"]), min_size=1, max_size=3),
       st.booleans(), st.data())
def test_any_stack_of_codings_decodes_however_it_is_cut(body, codings, inner_chunked, data):
    if inner_chunked:
        codings = [b"chunked", *codings]
    encoded = body
    for coding in codings:
        encoded = CODERS[coding](encoded)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(encoded)), max_size=8)))
    decoder, out = TransferDecoder(codings), []
    for start, end in zip([0, *cuts], [*cuts, len(encoded)]):
        out += decoder.feed(encoded[start:end])
    assert b"".join(out) == body
    assert decoder.complete


def test_a_decoder_inflates_only_what_is_asked_for():
    decoder = TransferDecoder([b"gzip"])
    pieces = decoder.feed(_bomb(64))
    taken = [next(pieces) for _ in range(3)]
    assert [len(piece) for piece in taken] == [PIECE] * 3
    assert not decoder.complete


def test_raw_deflate_is_read_too():
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    raw = compressor.compress(PAGE) + compressor.flush()
    decoder = TransferDecoder([b"deflate"])
    assert b"".join(decoder.feed(raw)) == PAGE and decoder.complete


def test_data_that_does_not_decode_is_an_error():
    with pytest.raises(BadCoding):
        list(TransferDecoder([b"gzip"]).feed(b"not gzip at all"))

