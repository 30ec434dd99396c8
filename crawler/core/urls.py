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

Redaction (``redact``, ``redact_text``) works from the authority as a URL parser
sees it: the user info is everything before the *last* ``@`` before the first
``/``, ``?`` or ``#`` (so a password with a raw ``@`` is hidden whole), and a user
name with no password is a secret too (``https://ghp_TOKEN@github.com``). Text
with no scheme (``user:pass@host/path``) is read the same way, unless its
"scheme" is one that has no authority (``mailto:``, ``tel:``...). Whitespace
around a URL is kept, and a URL is redacted before it is ever cut short.
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
SHOWN_CHARACTERS = 200  # of a URL over MAX_URL_LENGTH, as stored and shown
_SCHEME = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*:")
# Schemes whose URLs have no authority: ``mailto:someone@example.org`` holds no credentials.
_OPAQUE_SCHEMES = frozenset({"mailto", "tel", "sms", "data", "javascript", "urn", "news",
                             "xmpp", "sip", "sips", "geo", "magnet", "about", "blob", "cid",
                             "mid", "file"})
_AUTHORITY_END = re.compile(r"[/?#\s]|$")
# In free text (log lines, errors) a URL also ends at quotes and angle brackets.
_URL_IN_TEXT = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://")
_AUTHORITY_END_IN_TEXT = re.compile(r"""[/?#\s<>"'`]|$""")


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
        return Invalid(shown(text), f"URL longer than {MAX_URL_LENGTH} characters")
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
        return Invalid(redact(text), "not an absolute URL (no scheme)")
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
    """The URL with the secret part of its user info replaced by ``***``: the password
    (``user:***@host``), or a user name that has no password (``***@host``: a token)."""
    if "@" not in url:  # the common case, without parsing
        return url
    start = len(url) - len(url.lstrip())
    begin = _authority_start(url, start)
    if begin is None:
        return url
    end = _authority_end(_AUTHORITY_END, url, begin)
    at = url.rfind("@", begin, end)
    if at < 0:
        return url
    return url[:begin] + _mask(url[begin:at]) + url[at:]


def _authority_end(pattern: re.Pattern[str], text: str, begin: int) -> int:
    match = pattern.search(text, begin)  # the patterns end in ``|$``: they always match
    return match.start() if match else len(text)


def redact_text(text: str) -> str:
    """Every URL's user info in free text (log lines, errors), as ``redact`` hides it."""
    if "@" not in text:
        return text
    pieces, done = [], 0
    for match in _URL_IN_TEXT.finditer(text):
        begin = match.end()
        if begin < done:
            continue
        end = _authority_end(_AUTHORITY_END_IN_TEXT, text, begin)
        at = text.rfind("@", begin, end)
        if at >= 0:
            pieces += [text[done:begin], _mask(text[begin:at])]
            done = at
    return "".join(pieces) + text[done:]


def shown(url: str) -> str:
    """A URL as stored and shown: redacted, then cut to ``SHOWN_CHARACTERS`` when it is over
    ``MAX_URL_LENGTH`` (redacted first: a cut could split the user info from its ``@``)."""
    url = redact(url)
    return url if len(url) <= MAX_URL_LENGTH else url[:SHOWN_CHARACTERS] + "…"


def _authority_start(url: str, start: int) -> int | None:
    """Where the user info would begin: after ``scheme://`` or ``//``; at the start of text with
    no ``//`` (``user:pass@host``); None for a scheme without authority (``mailto:``)."""
    scheme = _SCHEME.match(url, start)
    if scheme is not None and url.startswith("//", scheme.end()):
        return scheme.end() + 2
    if url.startswith("//", start):
        return start + 2
    if url.startswith("/", start):
        return None  # a path: an '@' in it is not user info
    if scheme is not None and scheme.group()[:-1].lower() in _OPAQUE_SCHEMES:
        return None
    return start


def _mask(userinfo: str) -> str:
    if not userinfo:  # "@host", "http://@host": nothing secret to hide
        return userinfo
    user, colon, _ = userinfo.partition(":")
    return f"{user}:***" if colon else "***"


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


def _key(parts: SplitResult, scheme: str, host: str, port: int | None) -> str:
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != DEFAULT_PORTS[scheme]:
        netloc = f"{netloc}:{port}"
    if parts.username is not None:
        user = f"{parts.username}:***" if parts.password is not None else "***"
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
