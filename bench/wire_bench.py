"""What crossing Redis costs per item: signed JSON frames against the pickles they replaced.

    python -m bench.wire_bench [--repeat 2000] [--page-kb 50] [--image-kb 100]

For a request, a check without a body, a check with an HTML page and one with an image
(simulated web's bodies, bench/simweb.py), it times encoding (worker/coordinator side) and
decoding (the other side) with:
- ``pickle``: what scale-out used before issue 16: scrapy-redis's request dict pickled, and
  ``zstd(pickle(CheckItem))``;
- ``wire``: ``crawler.distributed.wire`` (JSON with a schema, HMAC-SHA256, zstd around a
  result), decoding including the signature check, the validation and, for a request, the
  ``scrapy.Request`` built from it.
It prints microseconds per item (median of 5 rounds of --repeat items) and the bytes stored
in Redis, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import pickle
import statistics
import time
from collections.abc import Callable
from typing import Any

import zstandard
from scrapy import Request
from scrapy.utils.request import request_from_dict

from bench.simweb import Bodies
from crawler.core.items import Capture, CheckItem, Hop
from crawler.distributed.wire import Wire
from crawler.spiders.links_worker import LinksWorkerSpider

NS = "linkhealth:0123456789:run:1"
URL = "http://127.0.0.2:8001/a/12345?utm_source=feed"


def per_item_us(function: Callable[[], object], repeat: int) -> float:
    rounds = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(repeat):
            function()
        rounds.append((time.perf_counter() - started) / repeat * 1e6)
    return statistics.median(rounds)


def check(body: bytes | None, content_type: str) -> CheckItem:
    capture = None if body is None else Capture(
        url=URL, final_url=URL, fetched_at="2026-01-01T00:00:00Z", status=200, protocol="HTTP/1.1",
        headers=[("Content-Type", content_type), ("ETag", '"0123456789abcdef"'),
                 ("Last-Modified", "Wed, 01 Jan 2025 00:00:00 GMT"), ("Server", "simweb")],
        content_type=content_type, content_encoding=None, body=body, etag='"0123456789abcdef"',
        last_modified="Wed, 01 Jan 2025 00:00:00 GMT")
    return CheckItem(url=URL, outcome="ok", status=200, final_url=URL,
                     redirects=[Hop(URL.replace("/a/", "/moved/"), 301)], elapsed_ms=23,
                     content_type=content_type, content_length=len(body or b""), method="GET",
                     attempts=1, checked_at="2026-01-01T00:00:00Z", capture=capture)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2000)
    parser.add_argument("--page-kb", type=int, default=50)
    parser.add_argument("--image-kb", type=int, default=100)
    args = parser.parse_args(argv)
    bodies = Bodies(args.page_kb * 1024, args.image_kb * 1024)
    wire = Wire(b"a-secret-of-the-benchmark-run", NS, body_limit=10 << 20)
    spider: Any = LinksWorkerSpider()  # its callbacks are the links spider's, typed for that one
    compressor, decompressor = zstandard.ZstdCompressor(level=3), zstandard.ZstdDecompressor()

    request = Request(URL, callback=spider.parse, errback=spider.failed, dont_filter=True,
                      headers={"If-None-Match": '"0123456789abcdef"'},
                      meta={"linkhealth_key": URL, "linkhealth_url": URL})
    old_request = pickle.dumps(request.to_dict(spider=spider), protocol=-1)
    new_request = wire.dump_request(request, "127.0.0.2")

    def rebuild() -> Request:
        data = wire.load_request(new_request, "127.0.0.2")
        return Request(data.url, method=data.method, headers=data.headers or None,
                       callback=getattr(spider, data.callback), errback=getattr(spider, data.errback),
                       meta=dict(data.meta), dont_filter=True)

    rows: list[tuple[str, dict[str, tuple[Any, ...]]]] = [("request", {
        "pickle": (lambda: pickle.dumps(request.to_dict(spider=spider), protocol=-1),
                   lambda: request_from_dict(pickle.loads(old_request), spider=spider), old_request),
        "wire": (lambda: wire.dump_request(request, "127.0.0.2"), rebuild, new_request)})]
    for name, item, repeat in (
            ("check, no body", check(None, "text/html"), args.repeat),
            (f"check + {args.page_kb} KB page", check(bodies.page("12345"), "text/html"), args.repeat // 4),
            (f"check + {args.image_kb} KB image", check(bodies.image("12345"), "image/jpeg"),
             args.repeat // 4)):
        old = compressor.compress(pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL))
        new = wire.dump_result(item)
        rows.append((name, {
            "pickle": (lambda item=item: compressor.compress(pickle.dumps(item, protocol=-1)),
                       lambda old=old: pickle.loads(decompressor.decompress(old)), old, repeat),
            "wire": (lambda item=item: wire.dump_result(item),
                     lambda new=new: wire.load_result(new, URL), new, repeat)}))
    print(f"{'':24} {'pickle enc':>10} {'dec':>7} {'bytes':>7}   {'wire enc':>8} {'dec':>7} {'bytes':>7}"
          f"   {'Δ µs/item':>9}")
    results = []
    for name, ways in rows:
        figures = {}
        for way, entry in ways.items():
            encode, decode, stored = entry[:3]
            repeat = entry[3] if len(entry) > 3 else args.repeat
            figures[way] = (per_item_us(encode, repeat), per_item_us(decode, repeat), len(stored))
        (pe, pd, pb), (we, wd, wb) = figures["pickle"], figures["wire"]
        print(f"{name:24} {pe:10.1f} {pd:7.1f} {pb:7d}   {we:8.1f} {wd:7.1f} {wb:7d}   "
              f"{we + wd - pe - pd:+9.1f}")
        results.append({"item": name, "pickle_encode_us": round(pe, 1), "pickle_decode_us": round(pd, 1),
                        "pickle_bytes": pb, "wire_encode_us": round(we, 1), "wire_decode_us": round(wd, 1),
                        "wire_bytes": wb})
    print("µs per item, median of 5 rounds; Δ: wire (encode + decode) minus pickle (encode + decode)")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
