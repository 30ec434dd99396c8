"""crawler.classify.outcomes: one outcome from a Scrapy response or failure (pure functions, no I/O)."""

from __future__ import annotations

import pytest
from OpenSSL import SSL
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
)
from scrapy.http import HtmlResponse, Request, Response
from twisted.internet import error as tx_error
from twisted.python.failure import Failure
from twisted.web._newclient import ResponseNeverReceived

from crawler.classify.outcomes import (
    check_from_failure,
    check_from_response,
    judge_exception,
    judge_response,
    looks_like_not_found_page,
    redirected_to_home,
    redirected_to_login,
)
from crawler.core.errors import ForbiddenAddress, HostNotFound, TooManyRedirects
from crawler.core.items import OUTCOMES, Hop

HTML = {"Content-Type": "text/html; charset=utf-8"}


def make_request(url: str, original: str | None = None, **meta) -> Request:
    original = original or url
    return Request(url, meta={"linkhealth_key": original, "linkhealth_url": original, **meta})


def make_response(url: str = "https://example.com/page", status: int = 200, headers=None,
                  body: bytes = b"", request: Request | None = None, cls=HtmlResponse) -> Response:
    return cls(url, status=status, headers=HTML if headers is None else headers, body=body,
               request=request or make_request(url))


def judged(**kwargs) -> tuple[str, str | None]:
    return judge_response(make_response(**kwargs))


def redirected(original: str, final: str, statuses: list[int | str], **kwargs) -> Response:
    hops = [original] + [f"{original}?hop={i}" for i in range(1, len(statuses))]
    request = make_request(final, original, redirect_urls=hops, redirect_reasons=statuses)
    return make_response(final, request=request, **kwargs)


# -- responses ---------------------------------------------------------------------

def test_ok():
    assert judged(body=b"<html><title>Welcome</title><h1>Hello</h1></html>") == ("ok", None)
    assert judged(status=204, headers={}) == ("ok", None)


@pytest.mark.parametrize("status", [400, 401, 404, 410, 500, 502, 503])
def test_broken_statuses(status):
    assert judged(status=status) == ("broken", f"HTTP {status}")


def test_blocked_999_and_429():
    assert judged(status=999)[0] == "blocked"
    outcome, error = judged(status=429)
    assert outcome == "blocked" and "429" in error


def test_blocked_403_with_challenge_header():
    assert judged(status=403, headers={"cf-mitigated": "challenge"})[0] == "blocked"
    assert judged(status=503, headers={"x-datadome": "1", **HTML})[0] == "blocked"


def test_blocked_403_with_challenge_page():
    body = b"<html><head><title>Just a moment...</title></head><body></body></html>"
    assert judged(status=403, body=body) == ("blocked", "HTTP 403 bot challenge")


def test_plain_403_is_broken():
    assert judged(status=403, body=b"<title>Forbidden</title>") == ("broken", "HTTP 403")
    # challenge text outside HTML does not count
    assert judged(status=403, headers={"Content-Type": "text/plain"},
                  body=b"Just a moment...")[0] == "broken"


def test_soft_404_by_title_or_h1():
    assert judged(body=b"<html><title>Page not found</title></html>")[0] == "soft_404"
    assert judged(body=b"<html><body><h1 class='x'>404</h1></body></html>")[0] == "soft_404"
    assert judged(body=b"<h1><span>Oops!</span> Page <b>Not Found</b></h1>")[0] == "soft_404"
    # the same words in a non-HTML body are not judged
    assert judged(headers={"Content-Type": "application/json"},
                  body=b"<title>Page not found</title>")[0] == "ok"


def test_not_found_page_detector():
    assert looks_like_not_found_page(b"<TITLE>\n  Error 404\n</TITLE>")
    assert looks_like_not_found_page(b"<title>This page doesn't exist</title>")
    assert not looks_like_not_found_page(b"<title>Found: the best shop</title>")
    assert not looks_like_not_found_page(b"<p>404 words about not found pages</p>")
    assert not looks_like_not_found_page(b"")


def test_soft_404_when_deep_url_redirects_to_home():
    response = redirected("https://example.com/deep/page", "https://www.example.com/", [301],
                          body=b"<title>Home</title>")
    outcome, error = judge_response(response)
    assert outcome == "soft_404"
    assert "home page" in error


def test_not_soft_404_when_original_was_home():
    response = redirected("https://example.com/", "https://www.example.com/", [301],
                          body=b"<title>Home</title>")
    assert judge_response(response) == ("ok", None)


def test_not_soft_404_when_home_is_on_another_domain():
    response = redirected("https://example.com/deep/page", "https://other.org/", [302],
                          body=b"<title>Home</title>")
    assert judge_response(response) == ("ok", None)


def test_not_soft_404_at_home_without_redirect():
    assert judge_response(make_response("https://example.com/")) == ("ok", None)


@pytest.mark.parametrize(("original", "final"), [
    ("https://a.com/story", "https://a.com/login?next=/story"),
    ("https://a.com/story", "https://a.com/users/sign_in"),
    ("https://a.com/story", "https://a.com/account/sign-in/"),
    ("https://a.com/story", "https://sso.a.com/auth/realms/x"),
    ("https://news.com/x", "https://consent.yahoo.com/v2/collectConsent?sessionId=1"),
    ("https://news.com/x", "https://accounts.google.com/ServiceLogin"),
    ("https://a.com/story", "https://a.com/gdpr/consent"),
])
def test_a_redirect_to_a_login_or_consent_page_is_recognised(original, final):
    assert redirected_to_login(original, final)


@pytest.mark.parametrize(("original", "final"), [
    ("https://a.com/story", "https://a.com/stories/story"),  # a move
    ("https://a.com/story", "https://a.com/author/jane"),  # "author" is not "auth"
    ("https://a.com/login", "https://a.com/login/"),  # the link is a login page itself
    ("https://accounts.google.com/x", "https://accounts.google.com/y"),
    ("https://a.com/blog/logging-in-python", "https://a.com/blog/logging-in-python/"),
])
def test_a_redirect_elsewhere_is_not_a_login_page(original, final):
    assert not redirected_to_login(original, final)


def test_redirected_to_home():
    assert redirected_to_home("https://a.com/deep", "https://www.a.com/")
    assert redirected_to_home("https://a.com/deep", "https://a.com")
    assert not redirected_to_home("https://a.com/", "https://a.com/")
    assert not redirected_to_home("https://a.com", "https://www.a.com/")
    assert not redirected_to_home("https://a.com/deep", "https://a.com/other")
    assert not redirected_to_home("https://a.com/deep", "https://a.com/?lang=en")
    assert not redirected_to_home("https://a.com/deep", "https://b.com/")
    assert redirected_to_home("https://news.bbc.co.uk/x", "https://www.bbc.co.uk/")


def test_index_page_redirected_to_root_is_not_soft_404():
    response = redirected("https://example.com/index.html", "https://example.com/", [301],
                          body=b"<title>Home</title>")
    assert judge_response(response) == ("ok", None)


def test_304_is_ok():
    assert judged(status=304, headers={}) == ("ok", None)


def test_redirect_to_file_url_is_forbidden():
    outcome, error = judged(status=302, headers={"Location": "file:///etc/passwd"})
    assert outcome == "forbidden_address"
    assert "file:///etc/passwd" in error


def test_redirect_without_location_is_broken():
    outcome, error = judged(status=302, headers={})
    assert outcome == "broken"
    assert "Location" in error


def test_unfollowed_http_redirect_is_broken_with_target():
    outcome, error = judged(url="https://example.com/a/b", status=301, headers={"Location": "../c"})
    assert outcome == "broken"
    assert "https://example.com/c" in error


# -- check items from responses ---------------------------------------------------------

@pytest.mark.parametrize(("statuses", "permanent"), [
    ([301], True),
    ([301, 308], True),
    ([308, 308, 301], True),
    ([301, 302], False),
    ([307], False),
    ([301, "meta refresh"], False),
    ([], False),
])
def test_permanent_redirect_only_when_every_hop_is_permanent(statuses, permanent):
    if statuses:
        response = redirected("https://example.com/old", "https://example.com/new", statuses)
    else:
        response = make_response("https://example.com/new")
    item = check_from_response(response)
    assert item.permanent_redirect is permanent
    assert [hop.status for hop in item.redirects] == [s if isinstance(s, int) else 0
                                                      for s in statuses]


def test_check_from_response_fields():
    request = make_request("https://example.com/new", "https://example.com/old",
                           redirect_urls=["https://example.com/old"], redirect_reasons=[301],
                           retry_times=1, linkhealth_head_status=405)
    response = HtmlResponse("https://example.com/new", status=200,
                            headers={"Content-Type": "text/html", "Content-Length": "1234"},
                            body=b"<title>New</title>", request=request)
    item = check_from_response(response)
    assert item.url == "https://example.com/old"  # the key, not the final URL
    assert item.outcome == "ok" and item.error is None
    assert item.status == 200
    assert item.final_url == "https://example.com/new"
    assert item.redirects == [Hop("https://example.com/old", 301)]
    assert item.permanent_redirect is True
    assert item.content_type == "text/html"
    assert item.content_length == 1234
    assert item.method == "GET"
    assert item.head_status == 405
    assert item.attempts == 2
    assert item.checked_at and item.checked_at.endswith("Z")


def test_content_length_from_body_when_header_missing():
    item = check_from_response(make_response(body=b"12345"))
    assert item.content_length == 5


# -- exceptions ---------------------------------------------------------------------------

def _tls_wrapped_in_download_failed() -> DownloadFailedError:
    try:
        try:
            raise SSL.Error([("SSL routines", "", "certificate verify failed")])
        except SSL.Error as exc:
            raise DownloadFailedError("download failed") from exc
    except DownloadFailedError as exc:
        return exc


@pytest.mark.parametrize(("exc", "outcome"), [
    (TooManyRedirects("loop", [("http://a/", 302)]), "too_many_redirects"),
    (ForbiddenAddress("localhost is a loopback address (127.0.0.1)"), "forbidden_address"),
    (CannotResolveHostError("lookup failed"), "dns_error"),
    (HostNotFound("no such host"), "dns_error"),
    (tx_error.DNSLookupError("x"), "dns_error"),
    (DownloadTimeoutError("took too long"), "timeout"),
    (tx_error.TimeoutError(), "timeout"),
    (DownloadConnectionRefusedError("refused"), "connection_error"),
    (_tls_wrapped_in_download_failed(), "tls_error"),
    (ResponseNeverReceived([Failure(SSL.Error([("SSL routines", "", "wrong version")]))]),
     "tls_error"),
    (ResponseNeverReceived([Failure(tx_error.ConnectionLost("lost"))]), "connection_error"),
    (DownloadFailedError("plain failure"), "connection_error"),
    (RuntimeError("weird"), "connection_error"),
])
def test_judge_exception(exc, outcome):
    result, error = judge_exception(exc)
    assert result == outcome
    assert result in OUTCOMES
    assert error


def test_judge_exception_messages():
    assert judge_exception(DownloadConnectionRefusedError("nope"))[1] == "connection refused: nope"
    assert judge_exception(RuntimeError())[1] == "RuntimeError"
    tls = ResponseNeverReceived([Failure(SSL.Error([("SSL routines", "", "wrong version")]))])
    message = judge_exception(tls)[1]
    assert message.startswith("TLS: ") and "wrong version" in message
    assert "twisted.python.failure.Failure" not in message


def test_check_from_failure_too_many_redirects_carries_chain():
    request = make_request("https://b.com/", "https://a.com/")
    chain = [("https://a.com/", 302), ("https://b.com/", 301)]
    item = check_from_failure(Failure(TooManyRedirects("redirect loop", chain)), request)
    assert item.url == "https://a.com/"
    assert item.outcome == "too_many_redirects"
    assert item.redirects == [Hop("https://a.com/", 302), Hop("https://b.com/", 301)]
    assert item.status == 301
    assert item.final_url == "https://b.com/"
    assert item.permanent_redirect is False


def test_check_from_failure_tls_reason_from_meta():
    request = make_request("https://a.com/", linkhealth_tls_reason="certificate has expired",
                           retry_times=2)
    item = check_from_failure(Failure(_tls_wrapped_in_download_failed()), request)
    assert item.outcome == "tls_error"
    assert item.error == "TLS: certificate has expired"
    assert item.attempts == 3
    assert item.status is None and item.final_url is None and item.redirects == []


def test_check_from_failure_after_redirects_keeps_chain():
    request = make_request("https://b.com/x", "https://a.com/x",
                           redirect_urls=["https://a.com/x"], redirect_reasons=[301])
    item = check_from_failure(Failure(DownloadTimeoutError("slow")), request)
    assert item.outcome == "timeout"
    assert item.redirects == [Hop("https://a.com/x", 301)]
    assert item.final_url == "https://b.com/x"
