"""Unchanged documents are not parsed again, and the run records exactly what parsing would.

Every test compares against the same run with ``LINKHEALTH_SKIP_UNCHANGED=0`` on a copy of
the database, so "the same" means the same rows, not a list of expectations.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.crawl import crawl, write_site
from tests.webserver import Web

pytestmark = pytest.mark.e2e

# Reading in a worker process starts after this many parsed documents (the default is 500).
SMALL_PROCESS_AFTER = {"LINKHEALTH_READ_PROCESS_AFTER": "5", "LINKHEALTH_READ_BATCH": "4"}


@pytest.fixture(scope="module")
def web():
    with Web() as server:
        yield server


def site_files(web: Web, documents: int = 30) -> dict[str, object]:
    files: dict[str, object] = {}
    for n in range(documents):
        files[f"_news/2024-01-{n % 28 + 1:02}-a{n:03}.md"] = {
            "title": f"Article {n}",
            "webUrl": web.url(f"/ok?article={n}"),
            # Spellings of one URL (one key) and a path with // and %2C, requested as written.
            "ampWebUrl": web.url(f"/ok//amp/%2C{n % 3}").replace("http://", "HTTP://"),
            "images": [{"url": f"/img/{n % 4}.png"}],  # site-relative: joined to the base URL
            "provider": {"images": [{"url": web.url("/status/404")}]},
            "related": [{"webUrl": web.url(f"/ok?article={(n + 1) % documents}"),
                         "images": [{"url": web.url("/image.png")}]}],
        }
    files["_news/credentials.md"] = {"title": "Secret", "webUrl": web.url("/ok").replace(
        "http://", "http://user:hunter2@")}
    files["_news/invalid.md"] = {"title": "Invalid", "webUrl": "htp:/nowhere", "link": 42}
    files["_news/broken.md"] = "---\ntitle: Broken\nwebUrl: [unclosed\n---\n"
    files["_news/plain.md"] = "# no front matter\n"
    return files


def stat(crawl_result, name: str) -> int:
    found = re.search(rf"'linkhealth/{name}': (\d+)", crawl_result.log)
    return int(found.group(1)) if found else 0


def recorded(db_path: Path) -> dict[str, list]:
    """Every row the document side of a run writes, and the run's counts."""
    conn = sqlite3.connect(db_path)
    try:
        return {
            "documents": conn.execute(
                "SELECT path, collection, title, published, parse_error, error_line,"
                " source_digest, first_run_id, last_run_id, file_digest FROM documents"
                " ORDER BY path").fetchall(),
            "refs": conn.execute(
                "SELECT d.path, r.field, r.kind, r.raw, u.url, u.request_url, r.first_run_id,"
                " r.last_run_id FROM refs r JOIN documents d ON d.id = r.document_id"
                " JOIN urls u ON u.id = r.url_id ORDER BY d.path, r.field, u.url").fetchall(),
            "checks": conn.execute(
                "SELECT c.run_id, u.url, c.outcome, c.status, c.error FROM checks c"
                " JOIN urls u ON u.id = c.url_id ORDER BY c.run_id, u.url").fetchall(),
            "runs": conn.execute(
                "SELECT id, status, documents, parse_errors, skipped_files, refs, unique_urls,"
                " requested, skipped, summary FROM runs ORDER BY id").fetchall(),
        }
    finally:
        conn.close()


def copy_db(source: Path, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{source}{suffix}").exists():
            shutil.copy(f"{source}{suffix}", f"{target}{suffix}")
    return target


def second_runs(site: Path, first_db: Path, tmp: Path, settings: dict | None = None,
                args: dict | None = None):
    """The next run with unchanged documents skipped, and the same run parsing everything."""
    skipping = crawl(site, copy_db(first_db, tmp / "skip" / "db.sqlite"), settings, args)
    parsing = crawl(site, copy_db(first_db, tmp / "parse" / "db.sqlite"),
                    {**(settings or {}), "LINKHEALTH_SKIP_UNCHANGED": "0"}, args)
    return skipping, parsing


def base(web: Web, name: str = "site") -> dict[str, str]:
    """The site's base URL, on the test server: site-relative image paths resolve to it."""
    return {"base_url": web.url(f"/{name}")}

# The broken YAML, the credentials and the invalid URL: parsed on every run; plain.md has no
# front matter (never a document).
ALWAYS_PARSED = 3


def test_an_unchanged_site_is_not_parsed_and_records_the_same_rows(web, tmp_path):
    site = write_site(tmp_path / "site", site_files(web))
    first = crawl(site, tmp_path / "first.sqlite", SMALL_PROCESS_AFTER, base(web))
    assert "Reading the rest of the site in a worker process" in first.log

    skipping, parsing = second_runs(site, first.db_path, tmp_path, SMALL_PROCESS_AFTER, base(web))

    assert recorded(skipping.db_path) == recorded(parsing.db_path)
    assert stat(skipping, "documents_unchanged") == 30
    assert stat(parsing, "documents_unchanged") == 0
    assert stat(skipping, "documents") == 30 + ALWAYS_PARSED
    assert "30 of 33 documents were unchanged since their last run" in skipping.log
    # Three documents parsed: fewer than READ_PROCESS_AFTER, so no reader process was started.
    assert "worker process" not in skipping.log
    rows = recorded(skipping.db_path)
    assert {row[8] for row in rows["documents"]} == {2}  # every document seen in run 2...
    assert [row[6] is None for row in rows["documents"]].count(True) == ALWAYS_PARSED
    run2 = [row for row in rows["checks"] if row[0] == 2]
    assert len(run2) == len([row for row in rows["checks"] if row[0] == 1])  # ...every URL checked


def test_an_edit_that_keeps_size_and_mtime_is_still_read(web, tmp_path):
    """The digest is of the bytes: one URL replaced by another of the same length, with the
    file's mtime put back, is noticed. The ref it lost stays recorded as last seen in run 1."""
    site = write_site(tmp_path / "site", site_files(web))
    first = crawl(site, tmp_path / "first.sqlite", args=base(web))
    edited = site / "_news/2024-01-08-a007.md"
    before = edited.stat()
    text = edited.read_text(encoding="utf-8")
    assert "/ok?article=7\n" in text
    edited.write_text(text.replace("/ok?article=7\n", "/ok?article=Z\n"), encoding="utf-8")
    os.utime(edited, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert edited.stat().st_size == before.st_size

    skipping, parsing = second_runs(site, first.db_path, tmp_path, args=base(web))

    assert recorded(skipping.db_path) == recorded(parsing.db_path)
    assert stat(skipping, "documents_unchanged") == 29
    refs = {(row[0], row[3]): row[-1] for row in recorded(skipping.db_path)["refs"]}
    assert refs[("_news/2024-01-08-a007.md", web.url("/ok?article=Z"))] == 2
    assert refs[("_news/2024-01-08-a007.md", web.url("/ok?article=7"))] == 1


def test_a_new_base_url_or_body_links_reads_every_document_again(web, tmp_path):
    """They decide what a file's references are: a run with either changed parses every
    document, as the first run with body links did."""
    files = site_files(web, documents=6)
    files["_news/2024-02-01-body.md"] = (
        "---\ntitle: Body\nwebUrl: " + web.url("/ok?body=1") + "\n---\n"
        "See [the page](" + web.url("/ok?in-body=1") + "), [again](" + web.url("/ok?in-body=1")
        + ").\n")  # one reference twice on one line: one row, counted once either way
    site = write_site(tmp_path / "site", files)
    first = crawl(site, tmp_path / "first.sqlite", args=base(web))

    moved = base(web, "moved")
    skipping, parsing = second_runs(site, first.db_path, tmp_path / "base", args=moved)
    assert stat(skipping, "documents_unchanged") == 0
    assert recorded(skipping.db_path) == recorded(parsing.db_path)
    assert any(row[5].startswith(web.url("/moved/img/"))
               for row in recorded(skipping.db_path)["refs"] if row[-1] == 2)

    with_body = {**base(web), "body_links": "1"}
    skipping, parsing = second_runs(site, first.db_path, tmp_path / "body", args=with_body)
    assert stat(skipping, "documents_unchanged") == 0
    assert recorded(skipping.db_path) == recorded(parsing.db_path)
    assert ("_news/2024-02-01-body.md", "page", web.url("/ok?in-body=1")) in {
        (row[0], row[2], row[3]) for row in recorded(skipping.db_path)["refs"]}

    # And the run after that, with body links again: every document is unchanged.
    skipping, parsing = second_runs(site, skipping.db_path, tmp_path / "body-again",
                                    args=with_body)
    assert stat(skipping, "documents_unchanged") == 7
    assert recorded(skipping.db_path) == recorded(parsing.db_path)


def test_a_resumed_run_skips_the_documents_it_had_recorded(web, tmp_path):
    """A run interrupted after writing its documents, resumed: the documents, recorded in
    this very run, come back unparsed with the refs of this run, and are counted once."""
    site = write_site(tmp_path / "site", site_files(web, documents=12))
    first = crawl(site, tmp_path / "first.sqlite", args=base(web))
    # Run 2 is closed after three answers, with its documents committed.
    interrupted = crawl(site, first.db_path, {"CLOSESPIDER_PAGECOUNT": "3",
                                              "LINKHEALTH_BATCH_SIZE": "5"}, base(web),
                        expect_status=1)
    assert interrupted.run()["status"] == "interrupted"
    written = [row[8] for row in recorded(first.db_path)["documents"]].count(2)
    assert written > 0
    resumed_db = copy_db(first.db_path, tmp_path / "resumed" / "db.sqlite")
    skipping = crawl(site, resumed_db, args={**base(web), "resume": "1"})
    parsing = crawl(site, copy_db(first.db_path, tmp_path / "parsed" / "db.sqlite"),
                    {"LINKHEALTH_SKIP_UNCHANGED": "0"}, {**base(web), "resume": "1"})

    assert skipping.run()["status"] == "finished" and skipping.run()["id"] == 2
    assert stat(skipping, "documents_unchanged") == 12
    assert stat(skipping, "documents") == 12 + ALWAYS_PARSED  # counted once
    assert recorded(skipping.db_path) == recorded(parsing.db_path)


def test_the_edited_documents_of_a_large_site_are_parsed_in_the_reader_process(web, tmp_path):
    """Batches mixing unchanged and edited documents: only the edited ones go to the reader
    process, and each comes back in its place."""
    site = write_site(tmp_path / "site", site_files(web))
    first = crawl(site, tmp_path / "first.sqlite", SMALL_PROCESS_AFTER, base(web))
    edited = sorted((site / "_news").glob("2024-*.md"))[::3]
    for path in edited:
        path.write_text(path.read_text(encoding="utf-8").replace("title: Article", "title: Edited"),
                        encoding="utf-8")

    skipping, parsing = second_runs(site, first.db_path, tmp_path, SMALL_PROCESS_AFTER, base(web))

    assert "Reading the rest of the site in a worker process" in skipping.log
    assert stat(skipping, "documents_unchanged") == 30 - len(edited)
    assert recorded(skipping.db_path) == recorded(parsing.db_path)
    titles = [row[2] for row in recorded(skipping.db_path)["documents"]]
    assert titles.count(None) == 1 and sum(t.startswith("Edited") for t in titles if t) == 10


def test_a_document_recorded_before_file_digests_gets_one_without_being_parsed(web, tmp_path):
    """Databases from before ``documents.file_digest`` (what scrapy fix checks a file against)
    fill it in on their next run, even for the documents that are not parsed again."""
    site = write_site(tmp_path / "site", site_files(web, documents=5))
    first = crawl(site, tmp_path / "db.sqlite", args=base(web))
    with sqlite3.connect(first.db_path) as conn:
        conn.execute("UPDATE documents SET file_digest = NULL")
    second = crawl(site, first.db_path, args=base(web))
    assert stat(second, "documents_unchanged") == 5
    with sqlite3.connect(first.db_path) as conn:
        digests = dict(conn.execute("SELECT path, file_digest FROM documents"))
    assert digests == {path: hashlib.sha256((site / path).read_bytes()).hexdigest()
                       for path in digests}
