"""Which addresses the guard refuses: our own table, the same on every Python (issue 16).

``ipaddress``'s flags changed in Python 3.11.10 and 3.12.4; on 3.11.7 a 6to4 address
wrapping 127.0.0.1 and a site-local address passed the guard. The table below is the
specification, written out independently of ``crawler/fetch/addresses.py``: both ends of
every special-purpose range, and the addresses just outside them.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, ip_network

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crawler.fetch.addresses import address_problem
from crawler.core.urls import normalise
from tests.crawl import crawl, write_site
from tests.webserver import Web

BOUNDARIES = [
    ("0.0.0.0", "unspecified"), ("0.255.255.255", "reserved"), ("1.0.0.0", None),
    ("9.255.255.255", None), ("10.0.0.0", "private"), ("10.255.255.255", "private"),
    ("11.0.0.0", None),
    ("100.63.255.255", None), ("100.64.0.0", "shared (carrier-grade NAT)"),
    ("100.127.255.255", "shared (carrier-grade NAT)"), ("100.128.0.0", None),
    ("126.255.255.255", None), ("127.0.0.0", "loopback"), ("127.255.255.255", "loopback"),
    ("128.0.0.0", None),
    ("169.253.255.255", None), ("169.254.0.0", "link-local"), ("169.254.255.255", "link-local"),
    ("169.255.0.0", None),
    ("172.15.255.255", None), ("172.16.0.0", "private"), ("172.31.255.255", "private"),
    ("172.32.0.0", None),
    ("191.255.255.255", None), ("192.0.0.0", "reserved"), ("192.0.0.255", "reserved"),
    ("192.0.1.0", None), ("192.0.2.0", "documentation"), ("192.0.2.255", "documentation"),
    ("192.0.3.0", None),
    ("192.88.98.255", None), ("192.88.99.0", "reserved"), ("192.88.99.255", "reserved"),
    ("192.88.100.0", None),
    ("192.167.255.255", None), ("192.168.0.0", "private"), ("192.168.255.255", "private"),
    ("192.169.0.0", None),
    ("198.17.255.255", None), ("198.18.0.0", "benchmarking"), ("198.19.255.255", "benchmarking"),
    ("198.20.0.0", None),
    ("198.51.99.255", None), ("198.51.100.0", "documentation"),
    ("198.51.100.255", "documentation"), ("198.51.101.0", None),
    ("203.0.112.255", None), ("203.0.113.0", "documentation"), ("203.0.113.255", "documentation"),
    ("203.0.114.0", None),
    ("223.255.255.255", None), ("224.0.0.0", "multicast"), ("239.255.255.255", "multicast"),
    ("240.0.0.0", "reserved"), ("255.255.255.254", "reserved"), ("255.255.255.255", "broadcast"),
    # IPv6
    ("::", "unspecified"), ("::1", "loopback"), ("::2", "IPv4-compatible reserved"),
    ("::127.0.0.1", "IPv4-compatible loopback"), ("::8.8.8.8", None),
    ("::ffff:127.0.0.1", "loopback"), ("::ffff:8.8.8.8", None),
    ("64:ff9b::a00:1", "NAT64-wrapped private"), ("64:ff9b::808:808", None),
    ("64:ff9b:1::1", "private"),
    ("100::1", "reserved"), ("1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "reserved"),
    ("2000::", None),
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", "Teredo-wrapped loopback"),  # client 127.0.0.1
    ("2001:0:a00:1:0:0:f7f7:f7f7", "Teredo-wrapped private"),  # server 10.0.0.1
    ("2001:0:4136:e378:8000:63bf:f7f7:f7f7", None),  # server and client public
    ("2001:1::1", "reserved"), ("2001:1ff:ffff::", "reserved"), ("2001:200::", None),
    ("2001:db7:ffff::", None), ("2001:db8::", "documentation"),
    ("2001:db8:ffff:ffff::", "documentation"), ("2001:db9::", None),
    ("2002:7f00:1::1", "6to4-wrapped loopback"), ("2002:a9fe:a9fe::1", "6to4-wrapped link-local"),
    ("2002:808:808::1", None),
    ("3ffe::", None), ("3fff::", "documentation"), ("3fff:fff::", "documentation"),
    ("3fff:1000::", None), ("4000::", "reserved"),
    ("fbff::", "reserved"), ("fc00::", "private"), ("fdff:ffff::", "private"),
    ("fd00:ec2::254", "private"),
    ("fe80::", "link-local"), ("febf:ffff::", "link-local"), ("fe80::1%eth0", "link-local"),
    ("fec0::", "site-local"), ("feff:ffff::", "site-local"),
    ("ff00::", "multicast"), ("ff02::1", "multicast"),
]


@pytest.mark.parametrize(("address", "label"), BOUNDARIES)
def test_special_purpose_ranges_end_where_the_registries_say(address, label):
    assert address_problem(address) == label


TEREDO_SERVER = int(IPv4Address("65.54.227.120"))  # public
PUBLIC = int(IPv4Address("8.8.8.8"))


def wrapped(form: str, v4: int) -> IPv6Address:
    return IPv6Address({
        "IPv4-compatible": v4,
        "NAT64-wrapped": (0x64FF9B << 96) | v4,
        "6to4-wrapped": (0x2002 << 112) | (v4 << 80) | 1,
        "Teredo-wrapped": (0x20010000 << 96) | (TEREDO_SERVER << 64) | (0x8000 << 48)
                          | (0x63BF << 32) | (~v4 & 0xFFFFFFFF),
    }[form])


@given(st.ip_addresses(v=4))
def test_an_ipv6_address_carrying_an_ipv4_address_gets_its_verdict(v4):
    expected = address_problem(str(v4))
    assert address_problem(str(IPv6Address((0xFFFF << 32) | int(v4)))) == expected  # mapped
    forms = ["NAT64-wrapped", "6to4-wrapped", "Teredo-wrapped"]
    if int(v4) > 1:  # ::0.0.0.0 and ::0.0.0.1 are :: and ::1
        forms.append("IPv4-compatible")
    for form in forms:
        assert address_problem(str(wrapped(form, int(v4)))) == (
            f"{form} {expected}" if expected else None), form
    teredo_server = IPv6Address((0x20010000 << 96) | (int(v4) << 64) | (~PUBLIC & 0xFFFFFFFF))
    assert address_problem(str(teredo_server)) == (f"Teredo-wrapped {expected}" if expected else None)


@given(st.ip_addresses(v=6))
def test_an_ipv6_address_outside_global_unicast_is_never_public(ip):
    if int(ip) >> 32 in (0, 0xFFFF, 0x64FF9B << 64):
        return  # it carries an IPv4 address: see above
    assert address_problem(str(ip)) is not None or ip in ip_network("2000::/3")


@pytest.mark.e2e
def test_addresses_that_wrap_loopback_are_refused_on_a_real_crawl(tmp_path):
    """Issue 16: 2002:7f00:1::1 and fec0::1 passed the guard on Python 3.11.7."""
    with Web() as web:
        port = web.port
        urls = {
            f"http://[2002:7f00:1::1]:{port}/": "[2002:7f00:1::1] is a 6to4-wrapped loopback",
            f"http://[fec0::1]:{port}/": "fec0::1 is a site-local",
            f"http://[2001:0:4136:e378:8000:63bf:80ff:fffe]:{port}/":
                "2001:0:4136:e378:8000:63bf:80ff:fffe is a Teredo-wrapped loopback",
            f"http://[64:ff9b::7f00:1]:{port}/": "64:ff9b::7f00:1 is a NAT64-wrapped loopback",
            f"http://[::127.0.0.1]:{port}/": "::127.0.0.1 is an IPv4-compatible loopback",
            f"http://0x7f.1:{port}/ok": "0x7f.1 is a loopback address (127.0.0.1)",
            f"http://2130706433:{port}/ok": "2130706433 is a loopback address (127.0.0.1)",
        }
        site = write_site(tmp_path / "site", {"a.md": {
            "title": "A", "related": [{"webUrl": url} for url in urls]}})
        result = crawl(site, tmp_path / "db.sqlite", settings={"LINKHEALTH_ALLOW_PRIVATE": "0"})
        assert web.requests == []
    for url, error in urls.items():
        check = result.check(normalise(url))
        assert check["outcome"] == "forbidden_address", (url, check["error"])
        assert error.replace("[", "").replace("]", "") in check["error"], check["error"]
