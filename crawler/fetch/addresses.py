"""Which IP addresses the crawl must not contact, by our own table (not Python's flags).

Which addresses ``ipaddress`` calls private, reserved or global changed within Python 3.11
and 3.12 (3.11.10 and 3.12.4 made 6to4 and more of 2001::/23 private, for example), and its
flags never look inside an IPv6 address that carries an IPv4 one. So the verdict comes
from the tables below only, and is the same on every Python:

* IPv4: the special-purpose ranges of RFC 6890 and IANA's IPv4 special-purpose registry
  (``IPV4_RANGES``); anything else is public;
* IPv6: only global unicast (2000::/3) can be public, less its special-purpose ranges
  (``IPV6_RANGES``);
* an IPv6 address that carries an IPv4 address gets that address's verdict:
  IPv4-mapped (::ffff:0:0/96), IPv4-compatible (::/96), NAT64 (64:ff9b::/96, RFC 6052),
  6to4 (2002::/16) and Teredo (2001::/32: its server and its client). ``2002:7f00:1::1``
  is loopback here, as ``::ffff:127.0.0.1`` is.
"""

from __future__ import annotations

from functools import lru_cache
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network

# First match wins: a narrower range comes before the one holding it.
IPV4_RANGES = tuple((ip_network(network), label) for network, label in (
    ("0.0.0.0/32", "unspecified"),
    ("0.0.0.0/8", "reserved"),  # "this network"; Linux connects 0.x to the local host
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "shared (carrier-grade NAT)"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),  # cloud metadata services
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "reserved"),  # IETF protocol assignments
    ("192.0.2.0/24", "documentation"),
    ("192.88.99.0/24", "reserved"),  # 6to4 relay anycast, deprecated (RFC 7526)
    ("192.168.0.0/16", "private"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"),
    ("224.0.0.0/4", "multicast"),
    ("255.255.255.255/32", "broadcast"),
    ("240.0.0.0/4", "reserved"),
))
IPV6_RANGES = tuple((ip_network(network), label) for network, label in (
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("64:ff9b:1::/48", "private"),  # local-use NAT64 (RFC 8215)
    ("fc00::/7", "private"),  # unique local
    ("fe80::/10", "link-local"),
    ("fec0::/10", "site-local"),  # deprecated, still routed inside some networks
    ("ff00::/8", "multicast"),
    ("2001:db8::/32", "documentation"),
    ("3fff::/20", "documentation"),
    ("2001::/23", "reserved"),  # IETF protocol assignments (Teredo, 2001::/32, looked into first)
))
GLOBAL_UNICAST = ip_network("2000::/3")
NAT64 = ip_network("64:ff9b::/96")
IPV4_COMPATIBLE = ip_network("::/96")


@lru_cache(maxsize=4096)
def address_problem(address: str) -> str | None:
    """Why an IP address must not be contacted (``loopback``, ``private``...), or None
    for a public unicast address. A zone (``fe80::1%eth0``) is ignored."""
    ip = ip_address(address.split("%", 1)[0])
    if isinstance(ip, IPv4Address):
        return _ipv4_problem(ip)
    return _ipv6_problem(ip)


def _ipv4_problem(ip: IPv4Address) -> str | None:
    for network, label in IPV4_RANGES:
        if ip in network:
            return label
    return None


def _ipv6_problem(ip: IPv6Address) -> str | None:
    if ip.ipv4_mapped is not None:  # the IPv4 address itself, as an IPv6 socket writes it
        return _ipv4_problem(ip.ipv4_mapped)
    if int(ip) > 1:  # :: and ::1 are themselves, not IPv4-compatible addresses
        carried = embedded_ipv4(ip)
        if carried:
            problems = [(form, _ipv4_problem(v4)) for form, v4 in carried]
            return next((f"{form} {problem}" for form, problem in problems if problem), None)
    for network, label in IPV6_RANGES:
        if ip in network:
            return label
    return None if ip in GLOBAL_UNICAST else "reserved"


def embedded_ipv4(ip: IPv6Address) -> list[tuple[str, IPv4Address]]:
    """The IPv4 addresses an IPv6 address carries, each with the name of its form."""
    if ip in IPV4_COMPATIBLE:
        return [("IPv4-compatible", IPv4Address(int(ip) & 0xFFFFFFFF))]
    if ip in NAT64:
        return [("NAT64-wrapped", IPv4Address(int(ip) & 0xFFFFFFFF))]
    if ip.sixtofour is not None:
        return [("6to4-wrapped", ip.sixtofour)]
    if ip.teredo is not None:
        server, client = ip.teredo
        return [("Teredo-wrapped", server), ("Teredo-wrapped", client)]
    return []
