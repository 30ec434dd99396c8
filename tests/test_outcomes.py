"""End to end: one real crawl of a site whose links cover every outcome a local web can produce.

Checking only (``LINKHEALTH_ARCHIVE=0``), so the HEAD-first strategy is exercised.

The crawl runs once for the module (a subprocess, as a user runs it); each test
asserts the recorded outcome, status and refs of one behaviour.
"""

from __future__ import annotations

import pytest

from crawler.core.urls import normalise
from tests.crawl import crawl, write_site
from tests.webserver import Web, free_port, make_ca, server_context, write_ca_bundle

pytestmark = [pytest.mark.e2e, pytest.mark.slow]  # its crawl waits on hangs and retries

# name -> path on the plain web server
PATHS = {
    "ok": "/ok?id=ok",
    "head405": "/head/405",
    "head404": "/head/404",
    "flaky": "/flaky/2/503",
    "retry_after": "/retry-after/1",
    "rate_limited": "/status/429",
    "not_found": "/status/404",
    "gone": "/status/410",
    "server_error": "/status/500",
    "chain": "/chain/3?code=301",
    "mixed_chain": "/redirect/302?to=/chain/1%3Fcode%3D308",
    "long_chain": "/chain/12?code=302",
    "loop": "/loop/a",
    "hang": "/hang",
    "reset": "/reset",
    "not_http": "/not-http",
    "to_home": "/to-home",
    "to_login": "/redirect/301?to=/ok/login%3Fnext%3D/story",
    "blocked": "/blocked",
    "status999": "/status/999",
    "image": "/image.png",
    "file_redirect": "/redirect/302?to=file:///etc/passwd",
    "byte_exact": "/ok//double%2Cslash?a=%2C&b=1",
    "excluded": "/ok/excluded/page",
}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("outcomes")
    ca = make_ca()
    bundle = write_ca_bundle(ca, tmp / "ca.pem")
    with Web() as web, \
         Web(host="127.0.0.2", tls=server_context(ca, hostnames=("127.0.0.2",))) as tls_ok, \
         Web(host="127.0.0.3", tls=server_context(make_ca(), hostnames=("127.0.0.3",))) as tls_untrusted, \
         Web(host="127.0.0.4", tls=server_context(ca, hostnames=("localhost",))) as tls_wrong_host, \
         Web(host="127.0.0.5", tls=server_context(ca, hostnames=("127.0.0.5",), expired=True)) as tls_expired:
        urls = {name: web.url(path) for name, path in PATHS.items()}
        urls.update(
            tls_ok=tls_ok.url("/ok"), tls_untrusted=tls_untrusted.url("/ok"),
            tls_wrong_host=tls_wrong_host.url("/ok"), tls_expired=tls_expired.url("/ok"),
            dns="http://nonexistent.invalid/page",
            refused=f"http://127.0.0.1:{free_port()}/",
        )
        names = sorted(urls)
        site = write_site(tmp / "site", {
            "_news/2024-01-01-first.md": {
                "title": "First", "webUrl": urls[names[0]],
                "related": [{"webUrl": urls[name]} for name in names[1:]],
            },
            "_news/2024-01-02-second.md": {
                "title": "Second",
                # the same URL as written differently: requested once, referenced twice
                "originalUrl": urls["ok"].replace("http://", "HTTP://") + "#section",
                "images": [{"url": urls["image"]}],
            },
        })
        result = crawl(site, tmp / "db.sqlite", settings={
            "LINKHEALTH_ARCHIVE": "0",  # checking only: HEAD first (archiving has its own tests)
            "LINKHEALTH_CA_BUNDLE": bundle,
            "LINKHEALTH_EXCLUDE": "/excluded/",
        })
        yield result, urls, web


def check(world, name):
    result, urls, _ = world
    return result.check(normalise(urls[name]))


def test_ok_is_checked_with_head_only(world):
    row = check(world, "ok")
    assert (row["outcome"], row["status"], row["method"], row["head_status"]) == ("ok", 200, "HEAD", None)


@pytest.mark.parametrize("name, head_status", [("head405", 405), ("head404", 404)])
def test_failing_head_is_confirmed_with_get(world, name, head_status):
    row = check(world, name)
    assert (row["outcome"], row["status"], row["method"], row["head_status"]) == ("ok", 200, "GET", head_status)
    _, urls, web = world
    target = PATHS[name]
    assert [r.method for r in web.requests if r.target == target] == ["HEAD", "GET"]


def test_503_then_200_is_retried_to_ok(world):
    row = check(world, "flaky")
    assert (row["outcome"], row["status"], row["attempts"]) == ("ok", 200, 3)


def test_429_waits_for_retry_after(world):
    row = check(world, "retry_after")
    assert (row["outcome"], row["status"], row["attempts"]) == ("ok", 200, 2)
    _, _, web = world
    times = [r.at for r in web.requests if r.target == PATHS["retry_after"]]
    assert len(times) == 2
    assert times[1] - times[0] >= 1.0  # Retry-After: 1 honoured (a behaviour, not a benchmark)


def test_429_still_after_retries_is_blocked_not_broken(world):
    row = check(world, "rate_limited")
    assert (row["outcome"], row["status"]) == ("blocked", 429)


@pytest.mark.parametrize("name, status", [("not_found", 404), ("gone", 410), ("server_error", 500)])
def test_http_errors_are_broken(world, name, status):
    row = check(world, name)
    assert (row["outcome"], row["status"], row["error"]) == ("broken", status, f"HTTP {status}")


def test_permanent_redirect_chain_is_recorded_hop_by_hop(world):
    _, urls, web = world
    row = check(world, "chain")
    assert (row["outcome"], row["status"], row["permanent_redirect"]) == ("ok", 200, 1)
    assert row["final_url"] == web.url("/chain/0?code=301")
    assert row["redirects"] == [
        {"url": web.url("/chain/3?code=301"), "status": 301},
        {"url": web.url("/chain/2?code=301"), "status": 301},
        {"url": web.url("/chain/1?code=301"), "status": 301},
    ]


def test_chain_with_a_temporary_hop_is_not_permanent(world):
    row = check(world, "mixed_chain")
    assert (row["outcome"], row["permanent_redirect"]) == ("ok", 0)
    assert [hop["status"] for hop in row["redirects"]] == [302, 308]


def test_redirect_loop_and_long_chain_are_too_many_redirects(world):
    loop = check(world, "loop")
    assert loop["outcome"] == "too_many_redirects"
    assert "loop" in loop["error"]
    assert [hop["status"] for hop in loop["redirects"]] == [302, 302, 302, 302]
    long_chain = check(world, "long_chain")
    assert long_chain["outcome"] == "too_many_redirects"
    assert len(long_chain["redirects"]) == 11  # 10 followed, the 11th refused


def test_hanging_server_times_out(world):
    row = check(world, "hang")
    assert row["outcome"] == "timeout"
    assert row["attempts"] == 3  # retried twice


@pytest.mark.parametrize("name", ["reset", "not_http"])
def test_broken_connections_are_connection_errors(world, name):
    assert check(world, name)["outcome"] == "connection_error"


def test_refused_port_is_connection_error(world):
    row = check(world, "refused")
    assert row["outcome"] == "connection_error"
    assert "refused" in row["error"].lower()


def test_unresolvable_host_is_dns_error_without_retries(world):
    row = check(world, "dns")
    assert row["outcome"] == "dns_error"
    assert row["attempts"] == 1


def test_deep_page_redirected_home_is_soft_404(world):
    row = check(world, "to_home")
    assert (row["outcome"], row["status"]) == ("soft_404", 200)
    assert "home page" in row["error"]


def test_a_link_moved_permanently_to_a_login_page_is_soft_404_not_a_move(world):
    row = check(world, "to_login")
    assert (row["outcome"], row["status"], row["permanent_redirect"]) == ("soft_404", 200, 1)
    assert row["error"].startswith("redirected to a login or consent page ")


@pytest.mark.parametrize("name, status", [("blocked", 403), ("status999", 999)])
def test_bot_protection_is_blocked(world, name, status):
    row = check(world, name)
    assert (row["outcome"], row["status"]) == ("blocked", status)


def test_image_checked_with_head_and_content_type_recorded(world):
    row = check(world, "image")
    assert (row["outcome"], row["method"], row["content_type"]) == ("ok", "HEAD", "image/png")


def test_redirect_to_file_url_is_refused(world):
    row = check(world, "file_redirect")
    assert row["outcome"] == "forbidden_address"
    assert "file:" in row["error"]


def test_urls_are_requested_byte_exact(world):
    _, _, web = world
    assert check(world, "byte_exact")["outcome"] == "ok"
    assert web.hits(PATHS["byte_exact"]) == 1  # '//' and '%2C' reached the server as written


def test_excluded_urls_are_recorded_not_requested(world):
    _, _, web = world
    row = check(world, "excluded")
    assert row["outcome"] == "excluded"
    assert web.hits(PATHS["excluded"]) == 0


def test_tls_valid_with_ca_bundle_is_ok(world):
    assert check(world, "tls_ok")["outcome"] == "ok"


@pytest.mark.parametrize("name", ["tls_untrusted", "tls_wrong_host", "tls_expired"])
def test_tls_problems_are_tls_errors(world, name):
    row = check(world, name)
    assert row["outcome"] == "tls_error", row
    assert row["error"].startswith("TLS")


def test_each_unique_url_is_requested_once_however_it_is_written(world):
    result, urls, web = world
    assert web.hits(PATHS["ok"]) == 1
    refs = result.refs(normalise(urls["ok"]))
    assert [(path, raw) for path, _, _, raw in refs] == [
        ("_news/2024-01-01-first.md", urls["ok"]),
        ("_news/2024-01-02-second.md", urls["ok"].replace("http://", "HTTP://") + "#section"),
    ]


def test_refs_record_document_field_and_kind(world):
    result, urls, _ = world
    refs = result.refs(normalise(urls["image"]))
    assert ("_news/2024-01-02-second.md", "images[0].url", "image", urls["image"]) in refs
    related = [r for r in refs if r[0] == "_news/2024-01-01-first.md"]
    assert len(related) == 1 and related[0][1].startswith("related[") and related[0][2] == "page"


def test_run_summary_counts(world):
    result, urls, _ = world
    run = result.run()
    assert run["status"] == "finished"
    assert (run["documents"], run["parse_errors"]) == (2, 0)
    assert run["unique_urls"] == len(urls)
    assert run["refs"] == len(urls) + 2
    assert run["requested"] == len(urls) - 1  # the excluded one is not requested


def test_tls_errors_say_what_is_wrong(world):
    assert "self-signed" in check(world, "tls_untrusted")["error"] or \
        "unable to get local issuer" in check(world, "tls_untrusted")["error"]
    assert "expired" in check(world, "tls_expired")["error"]
    assert "mismatch" in check(world, "tls_wrong_host")["error"].lower()
