"""Turning a URL as written in a document into something we can request.

Two forms of every URL are kept apart on purpose:

* the *request URL* is the string as written (joined to the site base when
  it is site-relative). It is requested byte-exact: no ``//`` collapsing in
  paths, no decoding of escapes such as ``%2C``; checkers that "clean" URLs
  report false broken links.
* the *key* is a safe normalisation used only to deduplicate: lower-case
  scheme and host, default port dropped, empty path as ``/``, fragment
  dropped, credentials redacted. Two spellings with the same key are
  requested once.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

SUPPORTED_SCHEMES = frozenset({"http", "https"})
DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_URL_LENGTH = 32_768
_USERINFO_PASSWORD = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*://[^/?#@:]*:)[^/?#@]*@")
_PASSWORD_IN_TEXT = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#@:\s]*:)[^/?#@\s]*@")


@dataclass(frozen=True, slots=True)
class Target:
    """A URL we can request."""

    key: str
    request_url: str
    host: str
    domain: str


@dataclass(frozen=True, slots=True)
class Invalid:
    """A URL-like string we cannot request, and why."""

    key: str
    reason: str


def resolve(raw: str, base_url: str | None) -> Target | Invalid:
    """Classify one URL string from a document (never raises)."""
    text = raw.strip()
    if not text:
        return Invalid(raw, "empty URL")
    if len(text) > MAX_URL_LENGTH:
        return Invalid(text[:200] + "…", f"URL longer than {MAX_URL_LENGTH} characters")
    if text.startswith("//"):
        text = "https:" + text
    elif text.startswith("/"):
        if not base_url:
            return Invalid(text, "site-relative URL and no site base URL "
                                 "(set url/baseurl in _config.yml or pass -a base_url=...)")
        text = base_url.rstrip("/") + text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        return Invalid(redact(text), f"URL does not parse: {exc}")
    scheme = parts.scheme.lower()
    if not scheme:
        return Invalid(text, "not an absolute URL (no scheme)")
    if scheme not in SUPPORTED_SCHEMES:
        return Invalid(redact(text), f"unsupported scheme '{scheme}:'")
    if not parts.hostname:
        return Invalid(redact(text), "URL has no host")
    if any(ch.isspace() for ch in parts.netloc):
        return Invalid(redact(text), "whitespace in host")
    host = _ascii_host(parts.hostname)
    if host is None:
        return Invalid(redact(text), f"host '{parts.hostname}' is not a valid domain name")
    key = _key(parts, scheme, host, port)
    return Target(key=key, request_url=text, host=host, domain=registered_domain(host))


def normalise(url: str) -> str:
    """The deduplication key of an absolute http(s) URL (idempotent)."""
    result = resolve(url, None)
    return result.key


def redact(url: str) -> str:
    """Replace a password in ``user:pass@host`` with ``***``."""
    if "@" not in url:  # the common case, without the regular expression
        return url
    return _USERINFO_PASSWORD.sub(r"\1***@", url, count=1)


def split_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """``http://user:pw@host/x`` -> (``http://host/x``, (user, pw)); the URL is kept as written
    otherwise. Scrapy's HTTP client cannot send userinfo, so it goes as Basic auth."""
    if "@" not in url:  # no userinfo possible: skip parsing (once per URL checked)
        return url, None
    parts = urlsplit(url)
    if parts.username is None:
        return url, None
    hostport = parts.netloc.rpartition("@")[2]
    return (urlunsplit(parts._replace(netloc=hostport)),
            (unquote(parts.username), unquote(parts.password or "")))


def redact_text(text: str) -> str:
    """Every ``scheme://user:password@`` in free text (log lines, errors) with ``***``."""
    return _PASSWORD_IN_TEXT.sub(r"\1***@", text)


def _key(parts: SplitResult, scheme: str, host: str, port: int | None) -> str:
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != DEFAULT_PORTS[scheme]:
        netloc = f"{netloc}:{port}"
    if parts.username is not None:
        user = parts.username + (":***" if parts.password is not None else "")
        netloc = f"{user}@{netloc}"
    path = parts.path or "/"
    return urlunsplit((scheme, netloc, path, parts.query, ""))


def _ascii_host(hostname: str) -> str | None:
    """Lower-case host, IDN hosts in their ASCII (punycode) form."""
    host = hostname.lower().rstrip(".")
    if not host:
        return None
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return None


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


@functools.lru_cache(maxsize=16_384)  # hosts repeat: a site names a few hundred
def registered_domain(host: str) -> str:
    """The registrable domain of a host (``news.bbc.co.uk`` -> ``bbc.co.uk``).

    Private suffixes count (``alice.github.io`` is its own site), and IP addresses
    and single-label hosts are their own domain.
    """
    if is_ip(host) or "." not in host:
        return host
    parts = _extractor()(host)
    if parts.domain and parts.suffix:
        return f"{parts.domain}.{parts.suffix}"
    return host


@functools.cache
def _extractor():
    """tldextract on its bundled public-suffix snapshot: never touches the network."""
    import tldextract

    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None,
                                 include_psl_private_domains=True)
