"""Judging a check: one outcome (see ``items.OUTCOMES``) from a response or a failure.

Pure functions of what Scrapy handed the spider; no I/O. Redirect chains
come from Scrapy's ``redirect_urls``/``redirect_reasons`` meta.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadConnectionRefusedError,
    DownloadTimeoutError,
)
from twisted.internet import error as tx_error

from crawler.core.clock import utc_now
from crawler.core.errors import ForbiddenAddress, SettledByHost, TooManyRedirects
from crawler.core.failures import causes, is_tls_failure
from crawler.core.items import CheckItem, Hop
from crawler.core.text import one_line
from crawler.core.urls import redact, redact_text, registered_domain

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.http import Response
    from twisted.python.failure import Failure

PERMANENT_REDIRECTS = frozenset({301, 308})
CHALLENGE_HEADERS = (b"cf-mitigated", b"x-amzn-waf-action", b"x-datadome", b"x-sucuri-block")
_CHALLENGE_TEXT = re.compile(
    rb"just a moment\.\.\.|challenge-platform|captcha|attention required|access denied", re.I)
_NOT_FOUND_TEXT = re.compile(
    r"\b(?:404|page not found|not found|page (?:does not|doesn't|no longer) exists?"
    r"|no longer available|nothing (?:was )?found)\b", re.I)
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.I | re.S)
_H1 = re.compile(r"<h1[^>]*>(.*?)</h1>", re.I | re.S)
_TAG = re.compile(r"<[^>]+>")
_INDEX_PAGE = re.compile(r"/(?:index|default|home)\.[a-z0-9]{2,5}", re.I)


def chain_of(request: Request, response: Response | None = None) -> list[tuple[str, int]]:
    """Hops ``(url, status)`` that led to ``request``, plus its own answer when given."""
    urls = request.meta.get("redirect_urls", [])
    reasons = request.meta.get("redirect_reasons", [])
    # Scrapy appends to both lists together; a request made elsewhere with one list shorter
    # loses its extra hops rather than its check.
    hops = [(url, reason if isinstance(reason, int) else 0)
            for url, reason in zip(urls, reasons, strict=False)]
    if response is not None:
        hops.append((request.url, response.status))
    return hops


def check_from_response(response: Response) -> CheckItem:
    request = response.request
    assert request is not None
    outcome, error = judge_response(response)
    hops = chain_of(request)
    host_state = request.meta.get("linkhealth_host_state")
    if host_state and error:  # its host gave up on it: the answer is judged as it came
        error = f"{error}; not retried: host {host_state[0]} ({host_state[1]})"
    item = _base_item(request, outcome, error)
    item.host_state = host_state[0] if host_state else None
    item.status = response.status
    item.final_url = redact(response.url)
    item.redirects = [Hop(redact(url), status) for url, status in hops]
    item.permanent_redirect = bool(hops) and all(s in PERMANENT_REDIRECTS for _, s in hops)
    item.content_type = _header(response, b"Content-Type")
    item.content_length = _content_length(response)
    return item


def check_from_failure(failure: Failure, request: Request) -> CheckItem:
    exc = failure.value
    assert exc is not None  # Optional in Twisted's types; a Failure always holds its exception
    outcome, error = judge_exception(exc)
    if outcome == "tls_error" and request.meta.get("linkhealth_tls_reason"):
        error = f"TLS: {request.meta['linkhealth_tls_reason']}"
    host_state = request.meta.get("linkhealth_host_state")
    if host_state and not isinstance(exc, SettledByHost):
        error = f"{error}; not retried: host {host_state[0]} ({host_state[1]})"
    item = _base_item(request, outcome, error)
    if isinstance(exc, SettledByHost):
        item.attempts = exc.attempts
    item.host_state = host_state[0] if host_state else None
    hops = exc.chain if isinstance(exc, TooManyRedirects) else chain_of(request)
    item.redirects = [Hop(redact(url), status) for url, status in hops]
    if isinstance(exc, TooManyRedirects) and hops:
        item.status = hops[-1][1]
    if hops:
        item.final_url = redact(request.url)
    return item


def judge_response(response: Response) -> tuple[str, str | None]:
    status = response.status
    if 200 <= status < 300 or status == 304:  # 304: the copy we hold is this answer's body
        return _judge_success(response)
    if 300 <= status < 400:
        return _judge_unfollowed_redirect(response)
    if status == 999 or status == 429 or is_challenge(response):
        return "blocked", _blocked_reason(response)
    if status == 503 and _request(response).meta.get("linkhealth_rate_limited"):
        return "blocked", _blocked_reason(response)
    return "broken", f"HTTP {status}"


def judge_exception(exc: BaseException) -> tuple[str, str]:
    message = describe(exc)
    if isinstance(exc, SettledByHost):
        return exc.outcome, message
    if isinstance(exc, TooManyRedirects):
        return "too_many_redirects", message
    if isinstance(exc, ForbiddenAddress):
        return "forbidden_address", message
    if isinstance(exc, CannotResolveHostError | tx_error.DNSLookupError):
        return "dns_error", message
    if is_tls_failure(exc):
        return "tls_error", f"TLS: {message}"
    if isinstance(exc, DownloadTimeoutError | tx_error.TimeoutError | tx_error.TCPTimedOutError):
        return "timeout", message
    if isinstance(exc, DownloadConnectionRefusedError | tx_error.ConnectionRefusedError):
        return "connection_error", f"connection refused: {message}"
    return "connection_error", message or type(exc).__name__


def looks_like_not_found_page(body: bytes) -> bool:
    """A 2xx HTML page whose title or main heading says "not found"."""
    head = body[:65536].decode("utf-8", "replace")
    for pattern in (_TITLE, _H1):
        match = pattern.search(head)
        if match and _NOT_FOUND_TEXT.search(_TAG.sub(" ", match.group(1))):
            return True
    return False


def redirected_to_home(original_url: str, final_url: str) -> bool:
    """A deep link that ended on the site's home page (the page is gone)."""
    original, final = urlsplit(original_url), urlsplit(final_url)
    if _is_home(original.path) or not _is_home(final.path) or final.query:
        return False
    return registered_domain(original.hostname or "") == registered_domain(final.hostname or "")


# Where a site sends a reader it will not show the page to: a login, a single sign-on, a
# consent or cookie wall. A permanent redirect there is not a move (scrapy fix must never
# write it into a document).
_LOGIN_PATH = re.compile(
    r"/(?:log-?in|log-?on|sign-?in|sign_in|signon|sso|auth|authorize|oauth2?|session/new"
    r"|consent|cookie-?consent|cookies?-?wall|gdpr|privacy-?gate)(?:[/.?;#]|$)", re.I)
_LOGIN_HOSTS = frozenset({
    "accounts.google.com", "consent.google.com", "consent.youtube.com",
    "login.microsoftonline.com", "login.live.com", "login.yahoo.com", "consent.yahoo.com",
    "guce.yahoo.com", "guce.oath.com", "consent.cookiebot.com",
})


def redirected_to_login(original_url: str, final_url: str) -> bool:
    """A link that ended on a login, sign-on, consent or cookie page, unless the link itself
    is one (someone may link a login page on purpose)."""
    original, final = urlsplit(original_url), urlsplit(final_url)
    if _LOGIN_PATH.search(original.path) or (original.hostname or "").lower() in _LOGIN_HOSTS:
        return False
    return (final.hostname or "").lower() in _LOGIN_HOSTS or bool(_LOGIN_PATH.search(final.path))


def _is_home(path: str) -> bool:
    return path in ("", "/") or _INDEX_PAGE.fullmatch(path) is not None


def _judge_success(response: Response) -> tuple[str, str | None]:
    request = _request(response)
    original = request.meta.get("linkhealth_url", request.url)
    if request.meta.get("redirect_urls"):
        if redirected_to_home(original, response.url):
            return "soft_404", f"redirected to the home page {response.url}"
        if redirected_to_login(original, response.url):
            return "soft_404", f"redirected to a login or consent page {response.url}"
    if _is_html(response) and looks_like_not_found_page(response.body):
        return "soft_404", "page says it was not found"
    return "ok", None


def _judge_unfollowed_redirect(response: Response) -> tuple[str, str]:
    location = response.headers.get(b"Location")
    if not location:
        return "broken", f"HTTP {response.status} without a Location header"
    target = urljoin(response.url, location.decode("latin-1"))
    scheme = urlsplit(target).scheme
    if scheme not in ("http", "https"):
        return "forbidden_address", f"redirect to a non-HTTP URL ({scheme or 'relative'}:) {target[:200]}"
    return "broken", f"HTTP {response.status} redirect to {target[:200]} not followed"


def _request(response: Response) -> Request:
    request = response.request  # Optional in Scrapy's types; the engine sets it on every answer
    assert request is not None
    return request


def is_challenge(response: Response) -> bool:
    """A 403/503 bot wall: a challenge header, or a challenge page."""
    if response.status not in (403, 503):
        return False
    if any(name in response.headers for name in CHALLENGE_HEADERS):
        return True
    return _is_html(response) and bool(_CHALLENGE_TEXT.search(response.body[:65536]))


def _blocked_reason(response: Response) -> str:
    tries = _request(response).meta.get("linkhealth_rate_limited")
    if tries:
        reason = "Too Many Requests" if response.status == 429 else "Service Unavailable"
        return (f"HTTP {response.status} {reason} after {tries + 1} attempts while its host"
                " was paced")
    if response.status == 429:
        return "HTTP 429 Too Many Requests"
    if response.status == 999:
        return "HTTP 999 (bot protection)"
    return f"HTTP {response.status} bot challenge"


def _base_item(request: Request, outcome: str, error: str | None) -> CheckItem:
    started = request.meta.get("linkhealth_started")
    return CheckItem(
        url=request.meta["linkhealth_key"],
        outcome=outcome,
        error=redact_text(error) if error else None,
        method=request.method,
        head_status=request.meta.get("linkhealth_head_status"),
        attempts=request.meta.get("retry_times", 0) + request.meta.get("linkhealth_rate_limited", 0) + 1,
        elapsed_ms=round((time.monotonic() - started) * 1000) if started else None,
        checked_at=utc_now(),
    )


def _is_html(response: Response) -> bool:
    return (response.headers.get(b"Content-Type") or b"").lower().startswith(
        (b"text/html", b"application/xhtml+xml"))


def _header(response: Response, name: bytes) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1")[:200] if value else None


def _content_length(response: Response) -> int | None:
    value = response.headers.get(b"Content-Length")
    if value and value.strip().isdigit():
        return int(value)
    if "download_stopped" in response.flags:
        return None
    return len(response.body)


def describe(exc: BaseException) -> str:
    """One readable line; Twisted's lists of wrapped failures become their innermost reasons."""
    text = one_line(exc, 500)
    if "twisted.python.failure.Failure" not in text:
        return text
    inner = [cause for cause in causes(exc)
             if cause is not exc and not getattr(cause, "reasons", None)
             and "twisted.python.failure.Failure" not in str(cause)]
    reasons = dict.fromkeys(f"{_name(cause)}: {one_line(cause, 500)}" for cause in inner)
    return "; ".join(reasons) or text


def _name(exc: BaseException) -> str:
    name = type(exc).__name__
    return "not an HTTP response" if name == "ParseError" else name


