"""``LINKHEALTH_ALLOW_HOSTS``: the host:port pairs exempt from the private-address guard.

An exemption names a port, not a whole host: a page anywhere on the web can redirect the
crawler, so a host exempt on every port would let any page reach every service on that
host (issue 16). Entries are

* ``HOST:PORT`` (``intranet.example:8080``, ``10.0.0.5:8443``, ``[fd00::5]:8080``): that
  port, whatever the scheme;
* ``HOST`` alone (``intranet.example``, ``fd00::5``): its scheme's default port only,
  80 for ``http:`` and 443 for ``https:``. Values written before ports were looked at keep
  working for URLs on default ports; a URL on another port of such a host is refused, and
  its error says which entry to add.

Host names are compared as URLs spell them (lower case); IP addresses in any spelling.
An entry that is none of these is logged and ignored: its host stays guarded.
"""

from __future__ import annotations

import ipaddress
import logging

from crawler.core.urls import DEFAULT_PORTS

logger = logging.getLogger(__name__)


def canonical_host(host: str) -> str:
    """A host as compared here: an IP address in its one standard spelling, a name as is."""
    if ":" in host or host[-1:].isdigit():
        try:
            return str(ipaddress.ip_address(host))
        except ValueError:
            pass
    return host


def netloc(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_entry(entry: str) -> tuple[str, int | None]:
    """``host:port``, ``[v6]:port``, ``host`` or ``v6`` -> (canonical host, port or None);
    ValueError when it is none of these."""
    text = entry.strip().lower()
    port_text: str | None = None
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError("an IPv6 address in brackets is [ADDRESS] or [ADDRESS]:PORT")
        port_text = rest[1:] if rest else None
        ipaddress.IPv6Address(host)
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    else:
        host = text
    if not host:
        raise ValueError("no host")
    if port_text is None:
        return canonical_host(host), None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"{port_text!r} is not a port")
    return canonical_host(host), int(port_text)


class AllowedHosts:
    def __init__(self, entries: list[str]):
        self.pairs: set[tuple[str, int]] = set()
        self.default_ports: set[str] = set()  # hosts exempt on their scheme's default port
        for entry in entries:
            try:
                host, port = parse_entry(entry)
            except ValueError as exc:
                logger.error("LINKHEALTH_ALLOW_HOSTS: ignoring %r (%s); use HOST:PORT, "
                             "[IPV6]:PORT or HOST", entry, exc)
                continue
            if port is None:
                self.default_ports.add(host)
            else:
                self.pairs.add((host, port))
        self.hosts = self.default_ports | {host for host, _ in self.pairs}

    def __bool__(self) -> bool:
        return bool(self.hosts)

    def exempts(self, scheme: str, host: str, port: int) -> bool:
        if not self.hosts:
            return False
        host = canonical_host(host)
        if (host, port) in self.pairs:
            return True
        return host in self.default_ports and DEFAULT_PORTS.get(scheme) == port

    def hint(self, host: str, port: int) -> str:
        """What to add to exempt a port of a host that is exempt on other ports ("" if none)."""
        host = canonical_host(host)
        if host not in self.hosts:
            return ""
        return (f"; LINKHEALTH_ALLOW_HOSTS exempts {host} on other ports only"
                f" (add {netloc(host, port)} to exempt this one)")
