"""LINKHEALTH_ALLOW_HOSTS exempts host:port pairs, not hosts on every port (issue 16).

The attack: an intranet server is exempt so that its pages are checked; a page anywhere
(here: on that very server) redirects the crawler to another port of the same host, where
an internal service listens. Before, a bare host was exempt on every port and as any
redirect target, and its lookup was kept for the run, so the redirect went through.
"""

from __future__ import annotations

import pytest

from crawler.fetch.allowed_hosts import AllowedHosts, parse_entry
from crawler.core.urls import normalise
from tests.crawl import crawl, write_site
from tests.webserver import Web


@pytest.mark.parametrize(("entry", "parsed"), [
    ("intranet.example:8080", ("intranet.example", 8080)),
    ("Intranet.Example", ("intranet.example", None)),
    ("10.0.0.5:8443", ("10.0.0.5", 8443)),
    ("[FD00:0::5]:8080", ("fd00::5", 8080)),
    ("[fd00::5]", ("fd00::5", None)),
    ("fd00::5", ("fd00::5", None)),
    (" localhost:1 ", ("localhost", 1)),
])
def test_entries_name_a_host_and_maybe_a_port(entry, parsed):
    assert parse_entry(entry) == parsed


@pytest.mark.parametrize("entry", ["host:http", "host:0", "host:65536", "host:", ":80",
                                   "[fd00::5", "[fd00::5]8080", "[not-v6]:80", ""])
def test_entries_that_are_not_hosts_are_refused(entry):
    with pytest.raises(ValueError):
        parse_entry(entry)


def test_a_bad_entry_is_logged_and_its_host_stays_guarded(caplog):
    allowed = AllowedHosts(["intranet.example:http", "wiki.example:8080"])
    assert "ignoring 'intranet.example:http'" in caplog.text
    assert not allowed.exempts("http", "intranet.example", 80)
    assert allowed.exempts("http", "wiki.example", 8080)


def test_a_bare_host_is_exempt_on_its_schemes_default_port_only():
    allowed = AllowedHosts(["intranet.example", "10.0.0.5:8443", "[fd00::5]:8080"])
    assert allowed.exempts("http", "intranet.example", 80)
    assert allowed.exempts("https", "intranet.example", 443)
    assert not allowed.exempts("http", "intranet.example", 443)
    assert not allowed.exempts("http", "intranet.example", 8080)
    assert allowed.exempts("https", "10.0.0.5", 8443) and allowed.exempts("http", "10.0.0.5", 8443)
    assert not allowed.exempts("https", "10.0.0.5", 443)
    assert allowed.exempts("http", "fd00:0:0::5", 8080)  # any spelling of the address
    assert allowed.hint("intranet.example", 8080) == (
        "; LINKHEALTH_ALLOW_HOSTS exempts intranet.example on other ports only"
        " (add intranet.example:8080 to exempt this one)")
    assert allowed.hint("fd00::5", 22).endswith("(add [fd00::5]:22 to exempt this one)")
    assert allowed.hint("other.example", 80) == ""


@pytest.mark.e2e
def test_a_redirect_to_another_port_of_an_exempt_host_is_refused(tmp_path):
    with Web() as intranet, Web() as internal:
        attack = f"http://localhost:{intranet.port}/redirect/302?to=http://localhost:{internal.port}/ok"
        direct = f"http://localhost:{internal.port}/status/200"
        site = write_site(tmp_path / "site", {"a.md": {"title": "A", "related": [
            {"webUrl": f"http://localhost:{intranet.port}/ok"}, {"webUrl": attack},
            {"webUrl": direct}]}})
        result = crawl(site, tmp_path / "db.sqlite", settings={
            "LINKHEALTH_ALLOW_PRIVATE": "0", "LINKHEALTH_ALLOW_HOSTS": f"localhost:{intranet.port}"})
        assert internal.requests == []
        assert {r.target for r in intranet.requests} >= {"/ok", attack.partition(str(intranet.port))[2]}
    assert result.check(normalise(f"http://localhost:{intranet.port}/ok"))["outcome"] == "ok"
    refused = result.check(normalise(attack))
    assert refused["outcome"] == "forbidden_address"
    assert [hop["status"] for hop in refused["redirects"]] == [302]
    assert refused["error"] == (
        f"localhost resolves to a loopback address (127.0.0.1); LINKHEALTH_ALLOW_HOSTS exempts"
        f" localhost on other ports only (add localhost:{internal.port} to exempt this one)")
    assert result.check(normalise(direct))["outcome"] == "forbidden_address"


@pytest.mark.e2e
def test_a_host_written_without_a_port_is_exempt_on_the_default_port_only(tmp_path):
    """The migration: a value from before ports counted no longer opens other ports, and
    the error says what to add."""
    with Web() as intranet:
        url = f"http://localhost:{intranet.port}/ok"
        site = write_site(tmp_path / "site", {"a.md": {"title": "A", "webUrl": url}})
        result = crawl(site, tmp_path / "db.sqlite", settings={
            "LINKHEALTH_ALLOW_PRIVATE": "0", "LINKHEALTH_ALLOW_HOSTS": "localhost"})
        assert intranet.requests == []
    check = result.check(normalise(url))
    assert check["outcome"] == "forbidden_address"
    assert check["error"].endswith(f"(add localhost:{intranet.port} to exempt this one)")
