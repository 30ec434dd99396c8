"""Reading a front-matter site: one ``Document`` per file, streamed, never raising.

Files are visited in a stable (sorted) order. A file that cannot be read or
parsed becomes a ``Document`` with ``error`` set (and ``error_line`` where YAML
gives one) so the run records it and goes on. That includes the files that are
not read at all (special files, symbolic links out of the site, files over the
size limit: ``crawler.site.files``) and front matter whose aliases expand beyond
``LINKHEALTH_MAX_YAML_NODES`` (``crawler.site.bounded_yaml``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from frontmatter.default_handlers import YAMLHandler

from crawler.core.text import one_line
from crawler.site import bounded_yaml
from crawler.site.files import (  # noqa: F401 - DOCUMENT_SUFFIXES, SKIPPED_DIRS: this module's API
    DOCUMENT_SUFFIXES,
    MAX_FILE_BYTES,
    SKIPPED_DIRS,
    ReadError,
    iter_document_paths,
    read_site_file,
)
from crawler.site.references import (
    Reference,
    TooManyNodes,
    body_references,
    front_matter_references,
)

_DATE_PREFIX = re.compile(r"^(\d{4}-\d{2}-\d{2})-")
_YAML = YAMLHandler()
MAX_TEXT_CHARS = 1000  # title and publish date as stored (a longer one is cut)


@dataclass(frozen=True, slots=True)
class ReadLimits:
    """What one file of the site may cost (its ``LINKHEALTH_*`` settings); picklable, for the
    reader process."""

    max_file_bytes: int = MAX_FILE_BYTES
    follow_symlinks: bool = False
    max_yaml_nodes: int = 100_000
    max_refs: int = 10_000

    @classmethod
    def from_settings(cls, settings: Any) -> ReadLimits:
        return cls(max_file_bytes=settings.getint("LINKHEALTH_MAX_FILE_BYTES"),
                   follow_symlinks=settings.getbool("LINKHEALTH_FOLLOW_SYMLINKS"),
                   max_yaml_nodes=settings.getint("LINKHEALTH_MAX_YAML_NODES"),
                   max_refs=settings.getint("LINKHEALTH_MAX_REFS_PER_DOCUMENT"))


DEFAULT_LIMITS = ReadLimits()


@dataclass(slots=True)
class Document:
    path: str  # relative to the site root, with forward slashes
    collection: str | None = None
    title: str | None = None
    published: str | None = None
    error: str | None = None
    error_line: int | None = None
    refs: list[Reference] = field(default_factory=list)
    digest: str | None = None  # of the file's bytes, with the reader's key (unchanged_documents)
    file_digest: str | None = None  # SHA-256 of the bytes read: scrapy fix edits only these

    def __reduce__(self) -> tuple[type, tuple]:
        """Pickled as a plain tuple (the reader process sends documents back): the dataclass
        default looks up its fields for every object, which was 1% of a crawl's CPU."""
        return (Document, (self.path, self.collection, self.title, self.published, self.error,
                           self.error_line, self.refs, self.digest, self.file_digest))


@dataclass(slots=True)
class SiteConfig:
    base_url: str | None = None
    error: str | None = None


def read_site_config(root: str | os.PathLike[str], limits: ReadLimits = DEFAULT_LIMITS
                     ) -> SiteConfig:
    """``url`` + ``baseurl`` from ``_config.yml``; a broken config is reported, not raised.
    It is read under the rules of every file of the site (``crawler.site.files``)."""
    path = Path(root) / "_config.yml"
    if not os.path.lexists(path):
        return SiteConfig()
    try:
        text = read_file_bytes(path, Path(root), limits).decode("utf-8")
        config = bounded_yaml.load(text, limits.max_yaml_nodes)
    except (ReadError, UnicodeDecodeError, yaml.YAMLError, ValueError) as exc:
        return SiteConfig(error=f"{path.name}: {one_line(exc)}")
    if not isinstance(config, Mapping) or not isinstance(config.get("url"), str):
        return SiteConfig()
    base = config["url"].rstrip("/")
    baseurl = config.get("baseurl")
    if isinstance(baseurl, str) and baseurl.strip("/"):
        base = f"{base}/{baseurl.strip('/')}"
    return SiteConfig(base_url=base)


def iter_documents(root: str | os.PathLike[str], body_links: bool = False,
                   limits: ReadLimits = DEFAULT_LIMITS) -> Iterator[Document]:
    """Every file with YAML front matter under root (files without it are skipped)."""
    root_path = Path(root)
    for path in iter_document_paths(root_path, limits.follow_symlinks):
        document = read_document(path, root_path, body_links, limits=limits)
        if document is not None:
            yield document


def read_document(path: Path, root: Path, body_links: bool = False,
                  key: bytes | None = None, limits: ReadLimits = DEFAULT_LIMITS
                  ) -> Document | None:
    """One file as a Document, or None when it has no front matter at all. With the reader's
    ``key``, the document carries the digest of the file's bytes."""
    relative = path.relative_to(root).as_posix()
    document = Document(path=relative, collection=_collection(relative))
    try:
        data = read_file_bytes(path, root, limits)
        document.file_digest = file_digest(data)
        if key is not None:
            document.digest = source_digest(data, key)
        text = _decode(data)
    except ReadError as exc:
        document.error = str(exc)
        return document
    if not _YAML.detect(text):
        return None
    try:
        front, body = _YAML.split(text)
    except ValueError:  # the closing '---' is missing
        document.error = "front matter is not closed (no second '---' line)"
        return document
    try:
        metadata = bounded_yaml.load(front, limits.max_yaml_nodes)
    except bounded_yaml.YamlTooLarge as exc:
        document.error = f"YAML front matter refused: {exc}"
        return document
    except yaml.YAMLError as exc:
        document.error, document.error_line = _yaml_error(exc, _front_start_line(text, front))
        return document
    except ValueError as exc:  # PyYAML builds dates and numbers with Python's own checks
        document.error = f"invalid value in YAML front matter: {one_line(exc)}"
        return document
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, Mapping):
        document.error = f"front matter is a {type(metadata).__name__}, not a mapping of fields"
        return document
    _describe(document, metadata)
    try:
        document.refs.extend(front_matter_references(metadata, limits.max_yaml_nodes))
    except TooManyNodes as exc:
        document.error = f"YAML front matter refused: {exc}"
        return document
    if body_links:
        document.refs.extend(body_references(body, _body_first_line(text, body)))
    _cap_references(document, limits.max_refs)
    return document


def _cap_references(document: Document, max_refs: int) -> None:
    """Keep the first ``max_refs`` references; more is recorded as the document's error."""
    if len(document.refs) > max_refs:
        document.error = (f"more than {max_refs:,} link references "
                          f"({len(document.refs):,}): only the first {max_refs:,} are checked")
        del document.refs[max_refs:]


def file_digest(data: bytes) -> str:
    """SHA-256 of a file's bytes, hex: what a later edit of the file checks it still holds."""
    return hashlib.sha256(data).hexdigest()


def source_digest(data: bytes, key: bytes) -> str:
    """A file's bytes as the reader read them (``key``: see crawler.site.unchanged_documents)."""
    return hashlib.blake2b(data, digest_size=16, key=key).hexdigest()


def read_file_bytes(path: Path, root: Path, limits: ReadLimits = DEFAULT_LIMITS) -> bytes:
    """A file's bytes, if it may be read (``crawler.site.files``); ``ReadError`` says why not."""
    return read_site_file(path, root, limits.max_file_bytes, limits.follow_symlinks)


def _decode(data: bytes) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ReadError(f"invalid UTF-8 at byte {exc.start} (line {line})") from exc
    return text.removeprefix("\ufeff")


def _front_start_line(text: str, front: str) -> int:
    """File line (1-based) on which the YAML text handed to the parser begins."""
    return text.count("\n", 0, max(text.find(front), 0)) + 1


def _yaml_error(exc: yaml.YAMLError, start_line: int) -> tuple[str, int | None]:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = start_line + mark.line if mark is not None else None
    problem = getattr(exc, "problem", None) or one_line(exc)
    context = getattr(exc, "context", None)
    message = f"invalid YAML front matter: {context + ', ' if context else ''}{problem}"
    return message, line


def _describe(document: Document, metadata: Mapping[str, Any]) -> None:
    document.title = _text(metadata.get("title") or metadata.get("name"))
    published = metadata.get("publishedDateTime") or metadata.get("date")
    if isinstance(published, dt.datetime | dt.date):
        published = published.isoformat()
    if published is None:
        match = _DATE_PREFIX.match(document.path.rsplit("/", 1)[-1])
        published = match.group(1) if match else None
    document.published = _text(published)


def _text(value: Any) -> str | None:
    """A scalar field as stored: text cut at ``MAX_TEXT_CHARS``; a list or mapping is not
    text (``str()`` of an aliased one can be megabytes), so it is left out."""
    if value is None or isinstance(value, list | dict):
        return None
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= MAX_TEXT_CHARS else text[:MAX_TEXT_CHARS] + "…"


def _collection(relative: str) -> str | None:
    first = relative.split("/", 1)[0]
    if "/" in relative and first.startswith("_"):
        return first[1:]
    return None


def _body_first_line(text: str, body: str) -> int:
    index = text.rfind(body) if body else len(text)
    return text.count("\n", 0, max(index, 0)) + 1
