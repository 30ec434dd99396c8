"""crawler.site.reader: a large site is read in a worker process, and a dead reader loses nothing."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from crawler.site.reader import SiteReader
from crawler.site.sources import source_digest
from crawler.site.unchanged_documents import KnownDocuments
from crawler.store.database import Store
from tests.crawl import REPO, crawl, write_site
from tests.webserver import Web

BROKEN_YAML = "---\ntitle: Broken\nwebUrl: [unclosed\n---\n"


def make_site(root: Path, web: Web | None = None, documents: int = 40) -> Path:
    base = web.url("/ok") if web else "https://example.org/ok"
    files: dict[str, object] = {
        f"_news/{n:03}.md": {"title": f"Article {n}", "webUrl": f"{base}?article={n}",
                             "images": [{"url": f"{base}?image={n % 7}"}]}
        for n in range(documents)}
    files["_news/017-broken.md"] = BROKEN_YAML
    files["_news/018-plain.md"] = "# no front matter\n"
    return write_site(root, files)


def read_all(reader: SiteReader, after_each=None) -> list:
    documents = []
    try:
        while batch := reader.next_batch():
            documents.extend(batch)
            if after_each is not None:
                after_each(reader)
    finally:
        reader.close()
    return documents


def summary(documents: list) -> list:
    return [None if d is None else (d.path, d.title, d.error, [(r.field, r.value) for r in d.refs])
            for d in documents]


def test_a_large_site_moves_to_a_worker_process_with_the_same_documents(tmp_path):
    site = make_site(tmp_path / "site")
    inline = read_all(SiteReader(site, body_links=False, batch=4, process_after=0))
    reader = SiteReader(site, body_links=False, batch=4, process_after=8)
    seen_process = []
    moved = read_all(reader, after_each=lambda r: seen_process.append(r.in_process))

    assert summary(moved) == summary(inline)
    assert len(inline) == 42 and inline.count(None) == 1  # the file without front matter
    assert any(d is not None and d.error for d in inline)  # the broken one is kept, with its error
    assert seen_process[:2] == [False, False] and seen_process[2:].count(True) >= 5
    assert reader.read_inline == 8  # the rest came from the process


def test_a_killed_reader_process_loses_no_document(tmp_path):
    site = make_site(tmp_path / "site", documents=60)
    expected = summary(read_all(SiteReader(site, body_links=False, batch=5, process_after=0)))
    killed = []

    def kill_once(reader: SiteReader) -> None:
        if reader.in_process and not killed:
            for child in multiprocessing.active_children():
                os.kill(child.pid, signal.SIGKILL)
                killed.append(child.pid)

    reader = SiteReader(site, body_links=False, batch=5, process_after=5)
    got = summary(read_all(reader, after_each=kill_once))

    assert killed, "the reader process never started"
    assert reader.failed  # it went back to reading in the thread...
    assert got == expected  # ...and every document came, once, in order


@pytest.fixture(scope="module")
def crawls(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("site-reader")
    with Web() as web:
        site = make_site(tmp / "site", web)
        inline = crawl(site, tmp / "inline.db", {"LINKHEALTH_READ_PROCESS_AFTER": "0"})
        process = crawl(site, tmp / "process.db", {"LINKHEALTH_READ_PROCESS_AFTER": "10",
                                                   "LINKHEALTH_READ_BATCH": "5"})
        yield inline, process


@pytest.mark.e2e
def test_a_crawl_reading_in_a_process_records_the_same_run(crawls):
    inline, process = crawls
    assert "worker process" not in inline.log
    assert "Reading the rest of the site in a worker process (10 documents read so far)" in process.log
    for name in ("documents", "parse_errors", "skipped_files", "refs", "unique_urls", "summary"):
        assert process.run()[name] == inline.run()[name], name
    assert process.run()["documents"] == 41 and process.run()["parse_errors"] == 1

    def refs(result):
        return sorted(result.db.execute(
            "SELECT d.path, r.field, u.url FROM refs r JOIN documents d ON d.id = r.document_id"
            " JOIN urls u ON u.id = r.url_id").fetchall())

    assert refs(process) == refs(inline) and len(refs(inline)) == 80


PARENT = """
import multiprocessing, sys, time
from pathlib import Path
from crawler.site.reader import SiteReader
reader = SiteReader(Path(sys.argv[1]), body_links=False, batch=1, process_after=1)
reader.next_batch()
reader.next_batch()  # from the reader process
print(*[child.pid for child in multiprocessing.active_children()], flush=True)
time.sleep(600)  # killed by the test long before
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.mark.e2e
def test_the_reader_process_exits_when_the_crawl_is_killed(tmp_path):
    site = make_site(tmp_path / "site", documents=10)
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(site)], cwd=REPO,
                              stdout=subprocess.PIPE, text=True)
    try:
        children = [int(pid) for pid in parent.stdout.readline().split()]
        assert children and all(_alive(pid) for pid in children)
    finally:
        parent.kill()  # SIGKILL: the pool is never shut down
        parent.wait(timeout=10)
    deadline = time.monotonic() + 15
    while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)  # polling for an outcome, with a deadline
    assert not any(_alive(pid) for pid in children), "the reader process outlived the crawl"


def test_a_database_lost_while_reading_means_parsing_every_document(tmp_path, caplog):
    """The recorded documents cannot be read any more (here: the connection closed under the
    reader): one warning, and every document is parsed, none lost."""
    site = make_site(tmp_path / "site", documents=12)
    expected = summary(read_all(SiteReader(site, body_links=False, batch=4, process_after=0)))
    Store(tmp_path / "db.sqlite").close()
    reader = SiteReader(site, body_links=False, batch=4, process_after=0, key=b"k" * 32)
    reader.known = KnownDocuments(tmp_path / "db.sqlite", reader.key)
    reader.known.conn.close()

    assert summary(read_all(reader)) == expected
    assert caplog.text.count("cannot read the recorded ones") == 1


class _HeldSort(KnownDocuments):
    """A sort that stops while reading a file until released: a reader thread inside
    ``sort`` when the crawl closes."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.reading, self.release = threading.Event(), threading.Event()

    def _bytes(self, path, root):
        self.reading.set()
        assert self.release.wait(30)
        return super()._bytes(path, root)


def test_closing_the_known_documents_under_a_running_sort(tmp_path):
    """close() comes from the reactor thread while the reader's thread sorts a batch: it
    returns at once, the sort ends normally, and the connection is closed when it does (closed
    under a running statement, it crashed the crawl with SIGSEGV on SIGTERM)."""
    site = make_site(tmp_path / "site", documents=2)
    key = b"k" * 32
    path = site / "_news/000.md"
    Store(tmp_path / "db.sqlite").close()
    with sqlite3.connect(tmp_path / "db.sqlite") as conn:
        conn.execute("INSERT INTO documents (path, source_digest, last_run_id) VALUES (?, ?, 1)",
                     ("_news/000.md", source_digest(path.read_bytes(), key)))
    known = _HeldSort(tmp_path / "db.sqlite", key)
    sorted_paths: list = []
    sorter = threading.Thread(target=lambda: sorted_paths.extend(known.sort([path], site)))
    sorter.start()
    assert known.reading.wait(30)

    closer = threading.Thread(target=known.close)
    closer.start()
    closer.join(30)
    assert not closer.is_alive()  # close() never waits for a sort (it may be stuck reading)
    known.conn.execute("SELECT 1")  # still open: the sort is using it

    known.release.set()
    sorter.join(30)
    assert [document.path for document in sorted_paths] == ["_news/000.md"]  # known unchanged
    with pytest.raises(sqlite3.ProgrammingError):
        known.conn.execute("SELECT 1")
    assert known.sort([path], site) == [path]  # closed: nothing is known
