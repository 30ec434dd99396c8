"""Choosing a changed web for the simulated internet: which URLs moved, died or changed.

    choose(urls, Scenario(seed=1), Shares(moved=0.05, dead=0.05))

The candidates are the URLs of a site (``site_urls``, read with linkhealth's own reader) or
of a database (``db_urls``) that answer 200 on the base web (their host resolves, they are
neither 404 nor redirected). Each is ranked by a number drawn from (seed, draw, URL), and
the shares are taken from the top of that ranking: first the dead hosts (of the candidates'
hosts), then the moved URLs, the URLs moved to a home or login page, the dead URLs and the
changed ones, never one URL twice. The same URLs, seed, draw and shares give the same
choice.

A moved URL gets a chain of 1-3 hops (60 / 30 / 10 %), each 301 (70 %) or 308, on its own
host, ending in a 200 at ``https://HOST/moved<path>`` (intermediate hops at
``/moved-<n><path>``); a URL of the site itself (``Scenario.served``) moves within the site
(``<base path>/moved<rest>``). A URL moved to a home or login page (``soft_moved``) gets one 301 or
308 hop to ``https://HOST/``, or to ``https://HOST/login?next=<path>``, in turn: a redirect
that is not a move. Dead URLs and hosts get the modes given, in turn. Of the URLs that are
gone (dead, moved to a home or login page, or on a dead host), the ``archived`` share has
captures in the Wayback Machine.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from bench.sim_world import Scenario, World, unit, url_key
from crawler.core.urls import Target, resolve
from crawler.site.sources import iter_documents, read_site_config

HOPS = ((0.6, 1), (0.9, 2), (1.0, 3))  # cumulative share -> hops in a moved URL's chain
PERMANENT = ((0.7, 301), (1.0, 308))


@dataclass(frozen=True)
class Shares:
    moved: float = 0.0
    dead: float = 0.0
    dead_as: tuple[str, ...] = ("404", "410")
    dead_hosts: float = 0.0
    dead_hosts_as: tuple[str, ...] = ("nxdomain", "refused")
    changed: float = 0.0
    soft_moved: float = 0.0  # moved to a home or login page: not a move
    archived: float = 0.0  # of the gone URLs, those the Wayback Machine captured
    draw: int = 0  # another draw of the same web: another choice

    def __post_init__(self) -> None:
        for name in ("moved", "dead", "dead_hosts", "changed", "soft_moved", "archived"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"--{name.replace('_', '-')} must be a share between 0 and 1")
        if self.moved + self.soft_moved + self.dead + self.changed > 1:
            raise ValueError("--moved + --soft-moved + --dead + --changed must not exceed 1")


@dataclass
class Choice:
    scenario: Scenario
    urls: int = 0  # candidates read
    eligible: int = 0  # of them, 200 on the base web
    hosts: list[str] = field(default_factory=list)  # hosts of the eligible URLs


def site_urls(site: Path, body_links: bool = False) -> list[str]:
    """The keys of every http(s) URL a site references (as ``scrapy crawl links`` reads it,
    with ``-a body_links=1`` when ``body_links``)."""
    base = read_site_config(site).base_url
    keys = set()
    for document in iter_documents(site, body_links=body_links):
        for ref in document.refs:
            target = None if ref.not_a_string else resolve(ref.value, base)
            if isinstance(target, Target):
                keys.add(target.key)
    return sorted(keys)


def db_urls(db: Path) -> list[str]:
    """The keys of every URL a linkhealth database has recorded."""
    if not db.exists():
        raise SystemExit(f"no database at {db}")
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        rows = con.execute("SELECT url FROM urls WHERE url LIKE 'http%'").fetchall()
    return sorted(row[0] for row in rows)


def choose(urls: list[str], base: Scenario, shares: Shares) -> Choice:
    """``base`` with moved, dead and changed URLs and dead hosts drawn from ``urls``."""
    world = World(base)
    keys = sorted({url_key(url) for url in urls})
    eligible = [key for key in keys if world.kind_of(key) == "ok"]
    rank = sorted(eligible, key=lambda key: unit(base.seed, "pick", str(shares.draw), key))
    hosts = sorted({urlsplit(key).hostname or "" for key in eligible})
    dead_hosts = sorted(hosts, key=lambda h: unit(base.seed, "pick-host", str(shares.draw), h))
    dead_hosts = dead_hosts[:round(shares.dead_hosts * len(hosts))]
    host_modes = {host: shares.dead_hosts_as[i % len(shares.dead_hosts_as)]
                  for i, host in enumerate(dead_hosts)}
    rank = [key for key in rank if urlsplit(key).hostname not in host_modes]
    taken = set(keys)
    moved: dict[str, list[tuple[int, str]]] = {}
    wanted = round(shares.moved * len(eligible))
    remaining = iter(rank)
    for key in remaining:
        if len(moved) == wanted:
            break
        chain = _chain(base.seed, key, _site_path(base.served, key))
        if any(url_key(to) in taken for _, to in chain):
            continue  # a target the site already links to: not a new location
        taken.update(url_key(to) for _, to in chain)
        moved[key] = chain
    rest = [key for key in rank if key not in moved]
    soft = [key for key in rest if urlsplit(key).path not in ("", "/")]  # a home page: no
    soft = soft[:round(shares.soft_moved * len(eligible))]
    moved.update((key, _soft_chain(base.seed, key, i)) for i, key in enumerate(soft))
    rest = [key for key in rest if key not in moved]
    dead_urls = rest[:round(shares.dead * len(eligible))]
    dead = {key: shares.dead_as[i % len(shares.dead_as)] for i, key in enumerate(dead_urls)}
    changed = rest[len(dead_urls):len(dead_urls) + round(shares.changed * len(eligible))]
    gone = dead_urls + soft + [key for key in eligible if urlsplit(key).hostname in host_modes]
    gone.sort(key=lambda key: unit(base.seed, "archived", str(shares.draw), key))
    archived = sorted(gone[:round(shares.archived * len(gone))])
    scenario = replace(base, moved=moved, dead=dead, dead_hosts=host_modes, changed=changed,
                       archived=archived)
    scenario.validate()
    return Choice(scenario, urls=len(keys), eligible=len(eligible), hosts=hosts)


def _chain(seed: int, key: str, site_path: str = "") -> list[tuple[int, str]]:
    """1-3 permanent hops on the URL's own host, over https, ending at /moved<path>; a URL
    of the served site (its base path ``site_path``) moves within the site:
    <site_path>/moved<rest>, as a site moves its own files."""
    parts = urlsplit(key)
    hops = next(n for limit, n in HOPS if unit(seed, "hops", key) < limit)
    chain = []
    for hop in range(1, hops + 1):
        prefix = "/moved" if hop == hops else f"/moved-{hop}"
        path = site_path + prefix + parts.path[len(site_path):]
        status = next(s for limit, s in PERMANENT if unit(seed, "status", str(hop), key) < limit)
        chain.append((status, urlunsplit(("https", parts.netloc, path, parts.query, ""))))
    return chain


def _site_path(served: dict[str, str], key: str) -> str:
    """The base path of the served site ``key`` belongs to (``/powerapps``), or ""."""
    parts = urlsplit(key)
    for base in served:
        site = urlsplit(url_key(base.rstrip("/") + "/"))
        if parts.netloc == site.netloc and parts.path.startswith(site.path):
            return site.path.rstrip("/")
    return ""


def _soft_chain(seed: int, key: str, turn: int) -> list[tuple[int, str]]:
    """One permanent hop to the host's home page (even turns) or to a login page (odd)."""
    parts = urlsplit(key)
    status = next(s for limit, s in PERMANENT if unit(seed, "status", "soft", key) < limit)
    target = "/" if turn % 2 == 0 else "/login?next=" + quote(parts.path, safe="")
    return [(status, f"https://{parts.netloc}{target}")]


def describe(choice: Choice, shares: Shares) -> str:
    """What was chosen, one line per URL or host, for a reader."""
    scenario = choice.scenario
    lines = [f"sim-internet scenario: seed {scenario.seed}, draw {shares.draw}; {choice.urls:,} URLs, "
             f"{choice.eligible:,} of them 200 on the base web, on {len(choice.hosts):,} hosts"]
    lines.append(f"dead hosts: {len(scenario.dead_hosts)} ({shares.dead_hosts:.1%} of the hosts)")
    lines += [f"  {host}  {mode}" for host, mode in scenario.dead_hosts.items()]
    lines.append(f"moved: {len(scenario.moved)} URLs ({shares.moved:.1%} of the eligible, and "
                 f"{shares.soft_moved:.1%} to a home or login page)")
    lines += ["  " + url + "".join(f"  {status} -> {to}" for status, to in chain)
              for url, chain in scenario.moved.items()]
    lines.append(f"dead: {len(scenario.dead)} URLs ({shares.dead:.1%})")
    lines += [f"  {url}  {mode}" for url, mode in scenario.dead.items()]
    lines.append(f"changed: {len(scenario.changed)} URLs ({shares.changed:.1%})")
    lines += [f"  {url}" for url in scenario.changed]
    lines.append(f"archived: {len(scenario.archived)} URLs ({shares.archived:.1%} of the gone ones)")
    lines += [f"  {url}" for url in scenario.archived]
    return "\n".join(lines)
