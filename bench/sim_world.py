"""What every URL of the simulated internet answers: a function of (seed, URL) plus a scenario.

The *base web* is drawn from the seed, URL by URL and host by host:

    a host in the ``dns_fail_hosts`` share   does not resolve (the proxy answers 502)
    a URL in the ``not_found`` share         404
    a URL in the ``redirects`` share         301 to ``/_moved<path>`` on the same host (200)
    any other URL                            200: a page, or an image/file by its extension

A host's home page (``/``) is never 404 or moved. A *scenario* (``Scenario``, a JSON state
file) overrides the base web between runs: URLs that now redirect through a chain of
301/308 hops ending in a 200, URLs and hosts that are now dead, URLs whose content changed,
the URLs the Wayback Machine captured (``archived``: ``bench.sim_wayback`` answers its CDX API
and playback at web.archive.org, which is always up), and the site itself once deployed
(``served``: base URL -> directory; its files are answered with their own bytes, the rest of
the base URL as the base web answers it).

Bodies are deterministic (the same URL always gets the same bytes, two URLs different
ones), and every 200 has validators that belong to its URL alone: a strong ``ETag`` from
the URL and its content version, and a ``Last-Modified`` drawn from the URL. A matching
``If-None-Match`` (or, without one, an ``If-Modified-Since`` not older than it) gets 304.
URLs are matched by linkhealth's own key (``crawler.core.urls.normalise``) of the URL as sent
(escaped as Scrapy escapes it), so a scenario written from a site's or a database's URLs
matches what the crawl requests.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import random
import re
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from w3lib.url import safe_url_string

from bench.sim_wayback import (
    ARCHIVE_HOST,
    capture_times,
    cdx_body,
    cdx_query,
    closest_time,
    playback,
    playback_url,
)
from crawler.core.urls import Target, resolve

MOVED_PREFIX = "/_moved"  # where the base web's redirects lead; always a 200
HOST_MODES = ("nxdomain", "refused", "hang", "reset")  # a dead host, besides a status
URL_MODES = ("hang", "reset")  # a dead URL, besides a status
EPOCH = datetime(2019, 1, 1, tzinfo=UTC)
HTML = "text/html; charset=utf-8"
TYPES = {  # extension -> Content-Type
    ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".gif": "image/gif",
    ".webp": "image/webp", ".svg": "image/svg+xml", ".ico": "image/x-icon",
    ".pdf": "application/pdf", ".json": "application/json", ".xml": "application/xml",
    ".txt": "text/plain; charset=utf-8", ".css": "text/css", ".js": "text/javascript",
    ".zip": "application/zip", ".mp4": "video/mp4", ".mp3": "audio/mpeg",
}
# Image URLs without an extension (CDNs, avatars, LinkedIn/Twitter media) are common in
# front matter; these words in the URL make the answer an image rather than a page.
_IMAGE_HINT = re.compile(r"\.(?:jpe?g|png|gif|webp)(?:\W|$)|/images?/|avatars?\b|/media/"
                         r"|profile_banners|opengraph|\bimg\b", re.I)
_SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]
# A deployed Jekyll site does not serve these as they are: underscore and dot paths are
# not published, and documents are rendered.
_UNSERVED = re.compile(r"(?:^|/)[_.]|\.(?:md|markdown)$")
MAX_SERVED_BYTES = 64 * 1024 * 1024  # all of a served site's files together


@dataclass(frozen=True)
class Base:
    """Shares of the base web (each a probability in [0, 1])."""

    not_found: float = 0.02
    redirects: float = 0.03
    dns_fail_hosts: float = 0.02

    def __post_init__(self) -> None:
        for name in ("not_found", "redirects", "dns_fail_hosts"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be a share between 0 and 1, not {getattr(self, name)}")
        if self.not_found + self.redirects > 1:
            raise ValueError("not_found + redirects must not exceed 1")


@dataclass
class Scenario:
    """A changed web: the state file read by ``serve``/``crawl --scenario`` and written by
    ``scenario``. Keys are URLs (matched by their key) or host names."""

    seed: int = 0
    base: Base = field(default_factory=Base)
    moved: dict[str, list[tuple[int, str]]] = field(default_factory=dict)  # URL -> (status, to)...
    dead: dict[str, str] = field(default_factory=dict)  # URL -> "404" | "hang" | "reset" ...
    dead_hosts: dict[str, str] = field(default_factory=dict)  # host -> "nxdomain" | ...
    changed: list[str] = field(default_factory=list)  # URLs whose content changed
    archived: list[str] = field(default_factory=list)  # URLs the Wayback Machine captured
    served: dict[str, str] = field(default_factory=dict)  # base URL -> the site's directory

    @classmethod
    def from_json(cls, data: dict) -> Scenario:
        unknown = set(data) - {"seed", "base", "moved", "dead", "dead_hosts", "changed",
                               "archived", "served", "chosen"}
        if unknown:
            raise ValueError(f"unknown scenario keys: {', '.join(sorted(unknown))}")
        moved = {url: [_hop(hop) for hop in ([hops] if isinstance(hops, str) else hops)]
                 for url, hops in data.get("moved", {}).items()}
        scenario = cls(seed=int(data.get("seed", 0)), base=Base(**data.get("base", {})),
                       moved=moved, dead=dict(data.get("dead", {})),
                       dead_hosts={h.lower(): m for h, m in data.get("dead_hosts", {}).items()},
                       changed=list(data.get("changed", [])),
                       archived=list(data.get("archived", [])),
                       served=dict(data.get("served", {})))
        scenario.validate()
        return scenario

    @classmethod
    def load(cls, path: Path) -> Scenario:
        try:
            return cls.from_json(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise SystemExit(f"scenario {path}: {exc}") from None

    def to_json(self) -> dict:
        return {"seed": self.seed, "base": self.base.__dict__,
                "moved": {url: [f"{status} {to}" for status, to in hops]
                          for url, hops in self.moved.items()},
                "dead": self.dead, "dead_hosts": self.dead_hosts, "changed": self.changed,
                "archived": self.archived, "served": self.served}

    def validate(self) -> None:
        for url, hops in self.moved.items():
            if not hops or any(not 300 <= status < 400 for status, _ in hops):
                raise ValueError(f"moved {url}: give one or more hops with a 3xx status")
        for url, mode in self.dead.items():
            if mode not in URL_MODES and not _is_error_status(mode):
                raise ValueError(f"dead {url}: {mode!r} is not a 4xx/5xx status or one of "
                                 f"{', '.join(URL_MODES)} (nxdomain and refused are for hosts)")
        for host, mode in self.dead_hosts.items():
            if mode not in HOST_MODES and not _is_error_status(mode):
                raise ValueError(f"dead host {host}: {mode!r} is not a 4xx/5xx status or one "
                                 f"of {', '.join(HOST_MODES)}")
        for base, directory in self.served.items():
            if urlsplit(base).scheme not in ("http", "https") or not Path(directory).is_dir():
                raise ValueError(f"served {base}: give an http(s) base URL and a directory, "
                                 f"not {directory!r}")


def _hop(text: str) -> tuple[int, str]:
    """``"301 https://host/new"``: one hop of a moved URL's chain."""
    status, _, to = str(text).strip().partition(" ")
    if not status.isdigit() or not to.strip():
        raise ValueError(f"a hop is 'STATUS URL', such as '301 https://example.org/new', not {text!r}")
    return int(status), to.strip()


@dataclass
class Answer:
    """One HTTP answer, or ``action`` "hang" (never answered) / "reset" (connection dropped)."""

    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    action: str | None = None
    kind: str = "ok"  # what the web meant: ok, not_found, moved, scenario modes...


def url_key(url: str) -> str:
    """The key a URL is matched by: linkhealth's, of the URL as Scrapy sends it."""
    result = resolve(safe_url_string(url), None)
    return result.key if isinstance(result, Target) else url


def unit(seed: int, *parts: str) -> float:
    """A deterministic number in [0, 1) for (seed, parts)."""
    digest = hashlib.sha256("\0".join((str(seed), *parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class World:
    """The answers of the simulated internet (pure: no I/O, no clock)."""

    def __init__(self, scenario: Scenario, page_kb: int = 20, image_kb: int = 8):
        self.scenario, self.seed, self.base = scenario, scenario.seed, scenario.base
        self.bodies = Bodies(scenario.seed, page_kb * 1024, image_kb * 1024)
        self.hops: dict[str, tuple[int, str]] = {}  # URL key -> (status, Location)
        self.landings: set[str] = set()  # where the scenario's chains end: a 200
        for url, chain in scenario.moved.items():
            here = url_key(url)
            for status, target in chain:
                self.hops[here] = (status, safe_url_string(target))
                here = url_key(target)
            self.landings.add(here)
        self.dead = {url_key(url): mode for url, mode in scenario.dead.items()}
        self.changed = {url_key(url) for url in scenario.changed}
        self.archived = {url_key(url) for url in scenario.archived}
        self.soft = {key for key, (_, location) in self.hops.items()
                     if _is_home_or_login(location) and key not in self.landings}
        self.served = served_files(scenario.served)

    def host_fate(self, host: str) -> str | None:
        """Why a host is unreachable ("nxdomain", "refused", "hang", "reset", a status), or None."""
        host = host.lower().rstrip(".")
        if host == ARCHIVE_HOST:
            return None  # the Wayback Machine is up: the lookups of dead links need it
        if host in self.scenario.dead_hosts:
            return self.scenario.dead_hosts[host]
        if unit(self.seed, "host", host) < self.base.dns_fail_hosts:
            return "nxdomain"
        return None

    def answer(self, url: str, headers: dict[str, str]) -> Answer:
        """The answer to a GET of ``url`` (headers lower-cased) from a reachable host; a HEAD
        gets the same without the body (the proxy drops it)."""
        key = url_key(url)
        answer = self._archive(url) or self._answer(key)
        if answer.status == 200 and answer.action is None:
            self._validators(key, answer, headers)
        return answer

    def kind_of(self, url: str) -> str:
        """What the web means by this URL, host included (for comparing with the crawl's outcomes)."""
        fate = self.host_fate(urlsplit(url).hostname or "")
        if fate is not None:
            return f"dead host: {fate}"
        return (self._archive(url) or self._answer(url_key(url))).kind

    def _archive(self, url: str) -> Answer | None:
        """The Wayback Machine's answer: its CDX API, or the playback of an archived URL's
        capture (None for anything else: the playback of a URL not archived is the base
        web's, as a site may link to captures of its own)."""
        query = cdx_query(url)
        if query is not None:
            key = url_key(query.get("url", ""))
            times = capture_times(self.seed, key) if key in self.archived else []
            return Answer(200, [("Content-Type", "application/json" if query.get("output") == "json"
                                 else "text/plain; charset=utf-8")],
                          cdx_body(query, times, content_type_of(key)), kind="wayback: CDX")
        captured = playback(url)
        if captured is None or url_key(captured[1]) not in self.archived:
            return None
        stamp, original = captured
        key = url_key(original)
        times = capture_times(self.seed, key)
        if stamp not in times:
            location = playback_url(closest_time(times, stamp), original)
            return Answer(302, [("Location", location), ("Content-Type", HTML)],
                          b"<html><body>Found</body></html>\n", kind="wayback: to a capture")
        content_type = content_type_of(key)
        return Answer(200, [("Content-Type", content_type)],
                      self.bodies.make(f"{key}\0{stamp}", "0", content_type), kind="wayback: capture")

    def _answer(self, key: str) -> Answer:
        if key in self.hops:
            status, location = self.hops[key]
            kind = "moved to home or login (scenario)" if key in self.soft else "moved (scenario)"
            return _redirect(status, location, kind)
        if key in self.dead:
            return _dead(self.dead[key])
        host_status = self.host_fate(urlsplit(key).hostname or "")
        if host_status is not None and _is_error_status(host_status):
            return _dead(host_status)
        if key in self.served:
            data, content_type = self.served[key]
            return Answer(200, [("Content-Type", content_type)], data, kind="served by the site")
        if key in self.landings:
            return self._content(key, "ok (scenario landing)")
        return self._base_answer(key)

    def _base_answer(self, key: str) -> Answer:
        parts = urlsplit(key)
        if parts.path == "/" or parts.path.startswith(MOVED_PREFIX + "/"):
            return self._content(key, "ok")
        draw = unit(self.seed, "url", key)
        if draw < self.base.not_found:
            return _not_found("not found")
        if draw < self.base.not_found + self.base.redirects:
            target = urlunsplit(parts._replace(path=MOVED_PREFIX + parts.path))
            return _redirect(301, target, "moved (base)")
        return self._content(key, "ok")

    def _content(self, key: str, kind: str) -> Answer:
        version = "1" if key in self.changed else "0"
        content_type = content_type_of(key)
        body = self.bodies.make(key, version, content_type)
        return Answer(200, [("Content-Type", content_type)], body, kind=kind)

    def _validators(self, key: str, answer: Answer, headers: dict[str, str]) -> None:
        version = "1" if key in self.changed else "0"
        if key in self.served:  # a file of the site: its validator follows its bytes
            version = hashlib.sha1(self.served[key][0]).hexdigest()
        etag = '"' + hashlib.sha1(f"{key}\0{version}".encode()).hexdigest()[:20] + '"'
        modified = EPOCH + timedelta(minutes=int(unit(self.seed, "modified", key) * 2_000_000))
        if version != "0":
            modified += timedelta(days=1)
        answer.headers += [("ETag", etag), ("Last-Modified", format_datetime(modified, usegmt=True))]
        if _not_modified(headers, etag, modified):
            answer.status, answer.body, answer.kind = 304, b"", "not modified"
            answer.headers = [h for h in answer.headers if h[0] != "Content-Type"]


def served_files(served: dict[str, str]) -> dict[str, tuple[bytes, str]]:
    """The files of each served site as its base URL publishes them, by URL key: every
    regular file but documents and ``_``/``.`` paths, read once (the world stays pure)."""
    files: dict[str, tuple[bytes, str]] = {}
    total = 0
    for base, directory in served.items():
        for path, relative in _published(Path(directory)):
            data = path.read_bytes()
            total += len(data)
            if total > MAX_SERVED_BYTES:
                raise ValueError(f"served {directory}: more than {MAX_SERVED_BYTES:,} bytes")
            url = base.rstrip("/") + "/" + relative
            files[url_key(url)] = (data, content_type_of(url))
    return files


def _published(root: Path) -> list[tuple[Path, str]]:
    """The regular files a deployed site would publish as they are, with their paths."""
    found = []
    for directory, subdirectories, names in os.walk(root):
        subdirectories[:] = sorted(d for d in subdirectories if not d.startswith(("_", ".")))
        for name in sorted(names):
            path = Path(directory) / name
            relative = path.relative_to(root).as_posix()
            if not _UNSERVED.search(relative) and not path.is_symlink() and path.is_file():
                found.append((path, relative))
    return found


def _is_home_or_login(url: str) -> bool:
    path = urlsplit(url).path
    return path in ("", "/") or path.startswith("/login")


def content_type_of(url: str) -> str:
    parts = urlsplit(url)
    extension = posixpath.splitext(parts.path)[1].lower()
    if extension in TYPES:
        return TYPES[extension]
    if _IMAGE_HINT.search(parts.path) or _IMAGE_HINT.search(parts.query) or \
            (parts.hostname and parts.hostname.startswith(("i.", "img.", "images.", "pbs."))):
        return "image/jpeg"
    return HTML


def _not_modified(headers: dict[str, str], etag: str, modified: datetime) -> bool:
    if "if-none-match" in headers:  # takes precedence over If-Modified-Since (RFC 9110)
        tags = [tag.strip().removeprefix("W/") for tag in headers["if-none-match"].split(",")]
        return "*" in tags or etag in tags
    if "if-modified-since" in headers:
        try:
            return parsedate_to_datetime(headers["if-modified-since"]) >= modified
        except (TypeError, ValueError):
            return False
    return False


def _is_error_status(mode: str) -> bool:
    return mode.isdigit() and 400 <= int(mode) <= 599


def _redirect(status: int, location: str, kind: str) -> Answer:
    return Answer(status, [("Location", location), ("Content-Type", HTML)],
                  b"<html><body>Moved</body></html>\n", kind=kind)


def _not_found(kind: str, status: int = 404) -> Answer:
    return Answer(status, [("Content-Type", HTML)],
                  b"<!doctype html><html><head><title>Not found</title></head>"
                  b"<body><h1>Not found</h1></body></html>\n", kind=kind)


def _dead(mode: str) -> Answer:
    if mode in URL_MODES:
        return Answer(0, action=mode, kind=f"dead: {mode}")
    return _not_found(f"dead: {mode}", int(mode))


class Bodies:
    """Deterministic bodies: a filler per size drawn once from the seed, and a part per URL."""

    def __init__(self, seed: int, page_bytes: int, image_bytes: int):
        rng = random.Random(seed)
        words = ["".join(rng.choices(_SYLLABLES, k=rng.randint(1, 3))) for _ in range(600)]
        paragraphs, size = [], 0
        while size < page_bytes:
            paragraphs.append(f"<p>{' '.join(rng.choices(words, k=rng.randint(30, 90)))}.</p>\n")
            size += len(paragraphs[-1])
        self.words = words
        self.page_filler = "".join(paragraphs).encode()
        self.image_filler = random.Random(seed + 1).randbytes(image_bytes)  # incompressible
        self.page_bytes, self.image_bytes = page_bytes, image_bytes

    def make(self, key: str, version: str, content_type: str) -> bytes:
        digest = hashlib.sha256(f"{key}\0{version}".encode()).digest()
        if content_type == HTML:
            return self.page(digest)
        if content_type.startswith("image/"):
            return IMAGES.get(content_type, _jpeg)(digest, self.image_filler)
        magic = b"%PDF-1.4\n" if content_type == "application/pdf" else b""
        return magic + b"sim-internet " + content_type.encode() + b" " + digest.hex().encode() + b"\n"

    def page(self, digest: bytes) -> bytes:
        # Syllable words never spell "not found" or "404": no page is a soft 404 by its text.
        title = " ".join(self.words[b % len(self.words)] for b in digest[:5]).capitalize()
        head = (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
                f"<title>{title}</title></head>\n<body><h1>{title}</h1>\n"
                f'<p class="id">{digest.hex()}</p>\n').encode()
        tail = b"</body></html>\n"
        return head + self.page_filler[:max(0, self.page_bytes - len(head) - len(tail))] + tail


def _jpeg(digest: bytes, filler: bytes) -> bytes:
    comment = b"sim-internet " + digest
    return (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
            + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment
            + filler + b"\xff\xd9")


def _png(digest: bytes, filler: bytes) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (len(data).to_bytes(4, "big") + kind + data
                + zlib.crc32(kind + data).to_bytes(4, "big"))
    header = (1).to_bytes(4, "big") * 2 + bytes([8, 2, 0, 0, 0])  # 1x1, 8-bit RGB
    pixel = zlib.compress(b"\x00" + digest[:3])
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"tEXt", b"Comment\0" + digest.hex().encode())
            + chunk(b"prVt", filler) + chunk(b"IDAT", pixel) + chunk(b"IEND", b""))


def _gif(digest: bytes, filler: bytes) -> bytes:
    comment = b"".join(bytes([len(piece)]) + piece for piece in (digest, filler[:255]) if piece)
    return (b"GIF89a\x01\x00\x01\x00\x80\x00\x00" + digest[:3] + b"\x00\x00\x00"
            + b"\x21\xfe" + comment + b"\x00"
            + b"\x2c\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02\x44\x01\x00\x3b")


def _webp(digest: bytes, filler: bytes) -> bytes:
    payload = b"WEBP" + b"EXIF" + len(digest + filler).to_bytes(4, "little") + digest + filler
    return b"RIFF" + len(payload).to_bytes(4, "little") + payload


def _svg(digest: bytes, filler: bytes) -> bytes:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1">'
            f'<desc>{digest.hex()}</desc><rect width="1" height="1" fill="#{digest[:3].hex()}"/>'
            f"</svg>\n").encode()


IMAGES = {"image/jpeg": _jpeg, "image/png": _png, "image/gif": _gif, "image/webp": _webp,
          "image/svg+xml": _svg}
