"""Not parsing again the documents whose bytes have not changed since they were recorded.

Reading a site is mostly PyYAML building Python objects (0.42 ms of CPU per lean
article), and a nightly run of a site that hardly changes paid it for every file.
A document recorded cleanly keeps ``documents.source_digest``: a BLAKE2b digest of
the file's bytes, keyed by how they were read (the source code of the modules that
find and resolve references, the site's base URL, and whether body links are
read), so a new linkhealth or a new base URL reads everything again. When a file's
digest is the one recorded, its references are taken from the database, the
``refs`` rows seen in the document's last run with their ``urls`` rows, and the
document is not parsed.

The digest is of the bytes, not the file's size and mtime: a fresh checkout (a CI
job) gives every file a new mtime, and an edit can keep both (the same length,
within one tick of the clock, or with the mtime put back by a tool).

A document is recorded with a digest only when the database can give back what
parsing it would: no parse error, every reference a URL that can be requested, and
no credentials in any of them (the database keeps them redacted). Any other
document is parsed on every run.

An unchanged document's URL is requested as the ``urls`` row has it, which is the
first spelling ever recorded for its key. Spellings with one key differ only where
HTTP does not (scheme and host case, a default port, an empty path, a fragment).
"""

from __future__ import annotations

import hashlib
import sqlite3
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from crawler.core import urls
from crawler.core.urls import Target
from crawler.site import bounded_yaml, files, references, sources
from crawler.site.sources import (
    DEFAULT_LIMITS,
    ReadError,
    ReadLimits,
    file_digest,
    read_file_bytes,
    source_digest,
)

# What decides the references found in a file, besides its bytes (see reader_key): the code
# of these modules, and of this one.
_READER_MODULES = (references, sources, urls, bounded_yaml, files)
_QUERY_CHUNK = 500  # paths or ids per query (SQLite allows 32,766 parameters since 3.32)


@dataclass(slots=True)
class UnchangedDocument:
    """A document whose bytes are the ones recorded: its references come from the database."""

    path: str
    document_id: int
    last_run_id: int
    published: str | None
    targets: list[Target] = field(default_factory=list)
    file_digest: str | None = None  # when the database has none yet (recorded before it kept one)


def reader_key(base_url: str | None, body_links: bool,
               limits: ReadLimits = DEFAULT_LIMITS) -> bytes:
    """Everything besides a file's bytes that decides the references read from it."""
    h = hashlib.blake2b(digest_size=32)
    for module in (*_READER_MODULES, sys.modules[__name__]):
        assert module.__file__ is not None  # linkhealth's own modules, loaded from files
        h.update(Path(module.__file__).read_bytes())
    h.update(f"\0base_url={base_url or ''}\0body_links={int(body_links)}"
             f"\0limits={limits!r}".encode())
    return h.digest()


class KnownDocuments:
    """The recorded digests and references, read with a connection of its own (read-only)
    in the site reader's thread, while the crawl writes through its own."""

    def __init__(self, db_path: str | Path, key: bytes, limits: ReadLimits = DEFAULT_LIMITS):
        self.conn = sqlite3.connect(f"file:{Path(db_path)}?mode=ro", uri=True,
                                    check_same_thread=False)  # one caller at a time
        self.key = key
        self.limits = limits  # the same rules as the parser's: a file it may not read is not known
        # close() comes from the reactor thread while a sort may run in the reader's thread:
        # closing a connection under a running statement crashes the process (SIGSEGV,
        # seen on SIGTERM). A sort in progress closes it when it ends instead; close()
        # never waits for it (the sort reads files, which may hang).
        self.lock = threading.Lock()
        self.sorting = False
        self.closed = False

    def close(self) -> None:
        with self.lock:
            self.closed = True
            if not self.sorting:
                self.conn.close()

    def sort(self, paths: list[Path], root: Path) -> list[Path | UnchangedDocument]:
        """Each path, or in its place the unchanged document it holds (once closed: each
        path, nothing is known)."""
        with self.lock:
            if self.closed:
                return list(paths)
            self.sorting = True
        try:
            return self._sort(paths, root)
        finally:
            with self.lock:
                self.sorting = False
                if self.closed:
                    self.conn.close()

    def _sort(self, paths: list[Path], root: Path) -> list[Path | UnchangedDocument]:
        relative = {path: path.relative_to(root).as_posix() for path in paths}
        recorded = self._recorded(list(relative.values()))
        unchanged: dict[str, UnchangedDocument] = {}
        for path, name in relative.items():
            known = recorded.get(name)
            if known is None:
                continue
            data = self._bytes(path, root)
            if data is not None and source_digest(data, self.key) == known[1]:
                unchanged[name] = UnchangedDocument(
                    name, known[0], known[2], known[3],
                    file_digest=None if known[4] else file_digest(data))
        self._add_targets(unchanged)
        return [unchanged.get(name, path) for path, name in relative.items()]

    def _recorded(self, names: list[str]) -> dict[str, tuple[int, str, int, str | None, str | None]]:
        found: dict[str, tuple[int, str, int, str | None, str | None]] = {}
        for chunk in _chunks(names):
            found.update((row[0], row[1:]) for row in self.conn.execute(
                "SELECT path, id, source_digest, last_run_id, published, file_digest FROM documents"
                f" WHERE path IN ({', '.join('?' * len(chunk))}) AND source_digest IS NOT NULL",
                chunk))
        return found

    def _bytes(self, path: Path, root: Path) -> bytes | None:
        try:
            return read_file_bytes(path, root, self.limits)
        except ReadError:
            return None  # the parser says why

    def _add_targets(self, unchanged: dict[str, UnchangedDocument]) -> None:
        """Each document's references seen in its last run, in the order first recorded. A
        document whose rows cannot give a requestable URL (not expected) is parsed instead."""
        by_id = {document.document_id: document for document in unchanged.values()}
        incomplete = set()
        for chunk in _chunks(list(by_id)):
            rows = self.conn.execute(
                "SELECT r.document_id, r.last_run_id, u.url, u.request_url, u.host, u.domain"
                " FROM refs r JOIN urls u ON u.id = r.url_id"
                f" WHERE r.document_id IN ({', '.join('?' * len(chunk))})"
                " ORDER BY r.document_id, r.id", chunk)
            for document_id, run_id, key, request_url, host, domain in rows:
                document = by_id[document_id]
                if run_id != document.last_run_id:
                    continue  # a reference the document no longer has
                if request_url is None or host is None:
                    incomplete.add(document.path)
                    continue
                document.targets.append(Target(key, request_url, host, domain))
        for name in incomplete:
            del unchanged[name]


def _chunks(values: list) -> list[list]:
    return [values[i:i + _QUERY_CHUNK] for i in range(0, len(values), _QUERY_CHUNK)]
