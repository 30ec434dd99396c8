"""What a follow-up request (a redirect hop, a retry) must not inherit from the one before it.

Scrapy builds a redirect's request with ``request.replace()`` and a retry with
``request.copy()``: every header and every meta key is copied. Some of them describe one
URL or one answer, not the check as a whole, and carried over they misjudge the next one:

* **per URL**: the conditional validators (``If-None-Match``, ``If-Modified-Since``...)
  of URL A sent to redirect target B, which then answers 304 for content we never had
  (issue 14); the download slot Scrapy named after A's host, which would pace B's host
  under A's limit;
* **per answer**: how much of a body was read, whether it was cut or too big, how it was
  encoded, why its TLS handshake failed. A retry after a 503 whose page was cut at the
  peek would otherwise flag a complete image as truncated.

What belongs to the whole check stays: the URL as written and its key, the start time,
the redirect chain, the retry count, the HEAD status.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy.utils.httpobj import urlparse_cached

if TYPE_CHECKING:
    from scrapy import Request

# Set for one attempt: while its answer is read (crawler.fetch.body_limit, crawler.fetch.decompression,
# the HTTP client), when it fails (crawler.fetch.tls_diagnosis), or by the scheduler as it leaves
# (crawler.policy.host_pacing, crawler.policy.host_health).
ATTEMPT_META = (
    "linkhealth_body_cap", "linkhealth_received", "linkhealth_truncated", "linkhealth_too_big",
    "linkhealth_content_encoding", "linkhealth_decode_error", "linkhealth_tls_reason",
    "download_latency", "linkhealth_probe", "linkhealth_settle",
)
# Validators of one URL's archived copy (crawler.policy.conditional); "linkhealth_validated" names
# the snapshot they came from.
CONDITIONAL_HEADERS = (b"If-None-Match", b"If-Modified-Since", b"If-Match",
                       b"If-Unmodified-Since", b"If-Range")
URL_META = ("linkhealth_validated",)


def next_attempt(request: Request) -> Request:
    """``request`` (a retry of the same URL) without what its predecessor's answer left."""
    for key in ATTEMPT_META:
        request.meta.pop(key, None)
    return request


def next_url(redirected: Request, previous: Request) -> Request:
    """``redirected`` (a hop to another URL) without what belonged to ``previous``'s URL or
    answer. The download slot goes only when it was the default one, named after the host
    (a slot set on purpose, such as the Wayback lookups' ``wayback``, stays)."""
    next_attempt(redirected)
    for name in CONDITIONAL_HEADERS:
        redirected.headers.pop(name, None)
    for key in URL_META:
        redirected.meta.pop(key, None)
    if redirected.meta.get("download_slot") == (urlparse_cached(previous).hostname or ""):
        del redirected.meta["download_slot"]
    return redirected
