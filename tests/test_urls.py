"""crawler.core.urls: the request URL (byte-exact) versus the deduplication key (normalised)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from crawler.core.urls import Invalid, Target, normalise, redact, registered_domain, resolve


def target(raw: str, base: str | None = None) -> Target:
    result = resolve(raw, base)
    assert isinstance(result, Target), result
    return result


def invalid(raw: str, base: str | None = None) -> Invalid:
    result = resolve(raw, base)
    assert isinstance(result, Invalid), result
    return result


# -- key normalisation --------------------------------------------------------

@pytest.mark.parametrize(("raw", "key"), [
    ("HTTP://Example.COM/Path", "http://example.com/Path"),  # path case kept
    ("HtTpS://WWW.Example.Com", "https://www.example.com/"),
    ("http://example.com:80/a", "http://example.com/a"),
    ("https://example.com:443/a", "https://example.com/a"),
    ("http://example.com:443/a", "http://example.com:443/a"),  # not http's default port
    ("https://example.com:8443/a", "https://example.com:8443/a"),
    ("https://example.com", "https://example.com/"),
    ("https://example.com?q=1", "https://example.com/?q=1"),
    ("https://example.com/a#section", "https://example.com/a"),
    ("https://example.com/a?b=2&a=1#x", "https://example.com/a?b=2&a=1"),  # query order kept
    ("https://example.com/a?Q=%2c&x=A+B", "https://example.com/a?Q=%2c&x=A+B"),  # query bytes kept
    ("https://example.com./a", "https://example.com/a"),  # trailing dot of the host
    ("  https://example.com/a  ", "https://example.com/a"),
])
def test_key_normalisation(raw, key):
    assert target(raw).key == key


def test_double_slash_and_escapes_are_byte_exact_in_key_and_request_url():
    raw = "https://Example.com/a//b%2Cc/%7e?x=%2C&y=a%2fb#frag"
    result = target(raw)
    assert result.request_url == raw
    assert result.key == "https://example.com/a//b%2Cc/%7e?x=%2C&y=a%2fb"


def test_request_url_is_exactly_what_was_written():
    for raw in ("HTTP://Example.COM:80", "https://example.com:443/a#f",
                "https://bücher.de/x", "http://u:p@h.com/"):
        assert target(raw).request_url == raw


def test_site_relative_url_is_joined_to_the_base_byte_exact():
    result = target("/a//b%2C?x=1#f", "https://Site.org/base/")
    assert result.request_url == "https://Site.org/base/a//b%2C?x=1#f"
    assert result.key == "https://site.org/base/a//b%2C?x=1"
    assert result.host == "site.org"
    assert target("/x", "https://site.org").request_url == "https://site.org/x"


def test_protocol_relative_url_becomes_https():
    result = target("//cdn.example.com/a.js")
    assert result.request_url == "https://cdn.example.com/a.js"
    assert result.domain == "example.com"


def test_host_and_domain():
    result = target("https://News.BBC.co.uk/x")
    assert (result.host, result.domain) == ("news.bbc.co.uk", "bbc.co.uk")


def test_idn_host_key_is_punycode_request_url_unchanged():
    result = target("https://bücher.de/x")
    assert result.key == "https://xn--bcher-kva.de/x"
    assert result.host == "xn--bcher-kva.de"
    assert result.request_url == "https://bücher.de/x"
    assert target("https://xn--bcher-kva.de/x").key == result.key


def test_ipv6_host():
    result = target("http://[::1]:8080/")
    assert result.key == "http://[::1]:8080/"
    assert result.host == "::1"
    assert target("HTTP://[::1]:80/").key == "http://[::1]/"


def test_credentials_password_redacted_in_key_only():
    result = target("http://u:secret@h.com/")
    assert result.key == "http://u:***@h.com/"
    assert "secret" not in result.key
    assert result.request_url == "http://u:secret@h.com/"
    # A user name with no password is often a token (https://ghp_...@github.com): hidden too.
    assert target("http://u@h.com/").key == "http://***@h.com/"


def test_redact():
    assert redact("https://user:pw@h.com:81/x?y#z") == "https://user:***@h.com:81/x?y#z"
    assert redact("https://h.com/x") == "https://h.com/x"
    assert redact("http://[::1") == "http://[::1"  # unparseable: returned as is
    # empty user info hides nothing (a CSV-formula-like "@SUM(1,1)" stays as written)
    assert redact("@SUM(1,1)") == "@SUM(1,1)" and redact("http://@h.com/") == "http://@h.com/"


@pytest.mark.parametrize("raw", [
    "HTTP://Example.COM:80",
    "https://example.com:443/a#f",
    "http://example.com:8080/x?B=%2C",
    "https://h.com/a//b%2Cc?q=A%2c#x",
    "https://bücher.de/x",
    "https://BÜCHER.de/",
    "http://[::1]:8080/",
    "http://[::FFFF:127.0.0.1]/",
    "http://u:p@h.com/",
    "http://u:p@h.com:81/a",
    "http://u@h.com/",
    "https://example.com?x=1",
    "https://example.com./",
    "//cdn.example.com/a",
    "http://1.2.3.4:80",
    "mailto:someone@example.com",
    "ftp://u:p@h.com/",
    "www.example.com/x",
    "",
])
def test_normalise_is_idempotent(raw):
    once = normalise(raw)
    assert normalise(once) == once


# -- invalid URLs --------------------------------------------------------------

@pytest.mark.parametrize(("raw", "reason_part"), [
    ("", "empty"),
    ("   ", "empty"),
    ("mailto:someone@example.com", "unsupported scheme 'mailto:'"),
    ("javascript:alert(1)", "unsupported scheme 'javascript:'"),
    ("data:text/plain,hello", "unsupported scheme 'data:'"),
    ("ftp://ftp.example.com/file", "unsupported scheme 'ftp:'"),
    ("http://[::1", "does not parse"),
    ("http://exa mple.com/", "whitespace in host"),
    ("www.example.com/x", "no scheme"),
    ("http://h.com:99999/", "does not parse"),
    ("http:///path-only", "no host"),
])
def test_invalid_with_reason(raw, reason_part):
    assert reason_part in invalid(raw).reason


def test_site_relative_without_base_names_the_base_url():
    result = invalid("/about/")
    assert result.key == "/about/"
    assert "base URL" in result.reason
    assert "_config.yml" in result.reason


def test_too_long_url_is_invalid_and_key_is_truncated():
    result = invalid("https://example.com/" + "a" * 40_000)
    assert "longer than" in result.reason
    assert len(result.key) < 300


def test_invalid_scheme_key_has_password_redacted():
    assert invalid("ftp://u:secret@h.com/").key == "ftp://u:***@h.com/"
    assert "secret" not in invalid("http://u:secret@exa mple.com/").key


def test_unparseable_url_key_has_password_redacted():
    result = invalid("http://u:secret@h.com:99999/")
    assert "secret" not in result.key


# -- registered domain ---------------------------------------------------------

@pytest.mark.parametrize(("host", "domain"), [
    ("news.bbc.co.uk", "bbc.co.uk"),
    ("bbc.co.uk", "bbc.co.uk"),
    ("a.b.c.example.com", "example.com"),
    ("example.com", "example.com"),
    ("127.0.0.1", "127.0.0.1"),
    ("93.184.216.34", "93.184.216.34"),
    ("::1", "::1"),
    ("2606:4700::1", "2606:4700::1"),
    ("localhost", "localhost"),
    ("xn--bcher-kva.de", "xn--bcher-kva.de"),
])
def test_registered_domain(host, domain):
    assert registered_domain(host) == domain


@pytest.mark.e2e
def test_registered_domain_makes_no_network_call(tmp_path):
    script = textwrap.dedent("""
        import socket

        def refuse(*args, **kwargs):
            raise AssertionError("network access attempted")

        socket.socket.connect = refuse
        socket.socket.connect_ex = refuse
        socket.create_connection = refuse
        socket.getaddrinfo = refuse
        from crawler.core.urls import registered_domain
        print(registered_domain("news.bbc.co.uk"), registered_domain("a.example.com"))
    """)
    env = {**os.environ, "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9",
           "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9",
           "TLDEXTRACT_CACHE": str(tmp_path / "tldcache"), "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).resolve().parents[1], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["bbc.co.uk", "example.com"]
    assert "network access attempted" not in done.stderr
