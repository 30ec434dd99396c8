"""A hostile site (issue 16): alias bombs, special files and symbolic links, in real crawls.

Every case is a real file on disk (FIFOs with ``mkfifo``, links to ``/dev/zero``, links
out of the site and directory loops) crawled by the real ``scrapy crawl``. Each bad file
is recorded as a document with its reason; every good one next to it is still checked.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.crawl import REPO, TEST_SETTINGS, crawl, scrapy_command, write_site
from tests.webserver import Web

pytestmark = pytest.mark.e2e


def alias_bomb(levels: int = 7, width: int = 9, use: str = "webUrl: [*a{top}]") -> str:
    """The review's front matter: each level an anchor of ``width`` aliases of the one before
    (9**7 = 4.8 million leaves from about 600 bytes)."""
    lines = ["---", "a0: &a0 [" + ", ".join(["https://bomb.example/"] * width) + "]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]" for i in range(1, levels)]
    return "\n".join([*lines, use.format(top=levels - 1), "---", ""])


def merge_bomb(levels: int = 8) -> str:
    """Merge keys: PyYAML copies the merged pairs while it builds, a blow-up inside the loader."""
    lines = ["---", "m0: &m0 {k0: https://bomb.example/}"]
    lines += [f"m{i}: &m{i} {{<<: [{', '.join([f'*m{i - 1}'] * 9)}], k{i}: v}}"
              for i in range(1, levels)]
    return "\n".join([*lines, f"webUrl: *m{levels - 1}", "---", ""])


REFUSED = "YAML front matter refused: more than 100,000 nodes with its aliases expanded"


def documents(result) -> dict[str, dict]:
    return {row["path"]: row for row in result.db.query("SELECT * FROM documents")}


def checked(result) -> dict[str, str]:
    return {row["url"]: row["outcome"] for row in result.db.query(
        "SELECT u.url, c.outcome FROM checks c JOIN urls u ON u.id = c.url_id")}


# -- YAML that expands without limit ---------------------------------------------------

@pytest.fixture(scope="module", params=["thread", "process"])
def bombs(request, tmp_path_factory):
    """The same site parsed in the crawl's thread, and in the worker process."""
    tmp = tmp_path_factory.mktemp(f"bombs-{request.param}")
    with Web() as web:
        site = write_site(tmp / "site", {
            "_news/a-good.md": {"title": "Good", "webUrl": web.url("/ok?good")},
            "_news/bomb.md": alias_bomb(),
            "_news/title-bomb.md": alias_bomb(use="title: *a{top}\nwebUrl: https://x.example/"),
            "_news/merge-bomb.md": merge_bomb(),
            "_news/deep.md": "---\nwebUrl: " + "[" * 999 + "x" + "]" * 999 + "\n---\n",
            "_news/long-title.md": {"title": "T" * 2_000_000, "webUrl": web.url("/ok?long")},
            "_news/many-refs.md": {"links": [web.url(f"/ok?many={n}") for n in range(12)]},
            "_news/z-good.md": {"title": "Last", "webUrl": web.url("/ok?last")},
        })
        settings = {"LINKHEALTH_MAX_REFS_PER_DOCUMENT": "10"}
        if request.param == "process":
            settings |= {"LINKHEALTH_READ_PROCESS_AFTER": "1", "LINKHEALTH_READ_BATCH": "1"}
        result = crawl(site, tmp / "db.sqlite", settings, timeout=120)
    assert ("worker process" in result.log) == (request.param == "process")
    return result, web


def test_alias_bombs_are_parse_errors_with_a_clear_message(bombs):
    result, _ = bombs
    docs = documents(result)
    for path in ("_news/bomb.md", "_news/title-bomb.md", "_news/merge-bomb.md"):
        assert docs[path]["parse_error"].startswith(REFUSED), path
        assert docs[path]["title"] is None
    assert docs["_news/deep.md"]["parse_error"] == \
        "YAML front matter refused: nested deeper than 64 levels"
    assert not list(result.db.query("SELECT 1 FROM urls WHERE url LIKE '%bomb.example%'"))


def test_text_fields_and_references_per_document_are_capped(bombs):
    result, web = bombs
    docs = documents(result)
    assert docs["_news/long-title.md"]["title"] == "T" * 1000 + "…"
    assert docs["_news/long-title.md"]["parse_error"] is None
    many = docs["_news/many-refs.md"]
    assert many["parse_error"] == "more than 10 link references (12): only the first 10 are checked"
    outcomes = checked(result)
    assert [outcomes.get(web.url(f"/ok?many={n}")) for n in range(12)] == ["ok"] * 10 + [None] * 2


def test_the_rest_of_the_site_is_checked_and_the_reports_stay_small(bombs):
    result, web = bombs
    outcomes = checked(result)
    for target in ("/ok?good", "/ok?long", "/ok?last"):
        assert outcomes[web.url(target)] == "ok"
    run = result.run()
    assert (run["status"], run["documents"], run["parse_errors"]) == ("finished", 8, 5)
    for fmt in ("md", "html", "json", "csv"):
        report = scrapy_command("report", "--db", str(result.db_path), "--format", fmt)
        assert report.returncode == 0, report.stderr
        assert len(report.stdout) < 200_000, fmt


def test_body_links_of_a_hostile_body_are_found_in_linear_time(tmp_path):
    """Bodies that made the link patterns rescan the rest of the line from every start (7 s
    for 32 KB of ``[a](``, growing with the square), and one with more links than a document
    may keep (each link's line was counted from the top)."""
    with Web() as web:
        site = write_site(tmp_path / "site", {
            "a-good.md": f"---\ntitle: A\n---\n[ok]({web.url('/ok?body')})\n",
            "brackets.md": "---\ntitle: B\n---\n" + "[a](" * 500_000,
            "open.md": "---\ntitle: O\n---\n" + "[" * 1_000_000 + "\n" + "<a " * 500_000,
            "links.md": "---\ntitle: L\n---\n" + "".join(  # site-relative: never requested
                f"[l](/l/{n})\n" for n in range(200_000)),
        })
        result = crawl(site, tmp_path / "db.sqlite", args={"body_links": "1"}, timeout=120)
    docs = documents(result)
    assert [docs[p]["parse_error"] for p in ("a-good.md", "brackets.md", "open.md")] == [None] * 3
    assert docs["links.md"]["parse_error"] == \
        "more than 10,000 link references (200,000): only the first 10,000 are checked"
    assert checked(result)[web.url("/ok?body")] == "ok"
    last = next(result.db.query("SELECT field FROM refs r JOIN urls u ON u.id = r.url_id"
                                " WHERE u.url = '/l/9999'"))
    assert last["field"] == "body:line 10003"  # lines still counted right


# -- special files and symbolic links ----------------------------------------------------

OUTSIDE_LINK = "a symbolic link to outside the site: not read (LINKHEALTH_FOLLOW_SYMLINKS=1 reads it)"
DIR_LINK = "a symbolic link to a directory: not followed (LINKHEALTH_FOLLOW_SYMLINKS=1 follows it)"
FILE_REASONS = {
    "zero.md": "not a regular file (a character device): not read",
    "fifo.md": "not a regular file (a FIFO): not read",
    "outside.md": OUTSIDE_LINK,
    "outside-dir": OUTSIDE_LINK,
    "loop": DIR_LINK,
    "big.md": "file larger than 4096 bytes, not read",
    "dangling.md": "cannot read file: No such file or directory",
    "self-loop.md": "cannot read file: Too many levels of symbolic links",
}


def hostile_tree(tmp: Path, web: Web) -> Path:
    outside = write_site(tmp / "outside", {
        "secret.md": {"webUrl": web.url("/ok?outside-file")},
        "_config.yml": f"url: {web.url('/outside-base')}\n",
        "docs/inner.md": {"webUrl": web.url("/ok?outside-dir")},
    })
    site = write_site(tmp / "site", {
        "a-good.md": {"title": "Good", "webUrl": web.url("/ok?good"),
                      "images": [{"url": "/relative.png"}]},
        "real/inside.md": {"webUrl": web.url("/ok?inside-target")},
        "big.md": "---\nwebUrl: " + web.url("/ok?big") + "\n---\n" + "x" * 5000,
        "z-good.md": {"webUrl": web.url("/ok?last")},
    })
    (site / "zero.md").symlink_to("/dev/zero")
    os.mkfifo(site / "fifo.md")
    (site / "outside.md").symlink_to(outside / "secret.md")
    (site / "outside-dir").symlink_to(outside / "docs")
    (site / "loop").symlink_to(site)
    (site / "inside.md").symlink_to(site / "real" / "inside.md")
    (site / "dangling.md").symlink_to(site / "missing.md")
    (site / "self-loop.md").symlink_to(site / "self-loop.md")
    (site / "_config.yml").symlink_to(outside / "_config.yml")
    return site


@pytest.fixture(scope="module")
def hostile_files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile-files")
    with Web() as web:
        site = hostile_tree(tmp, web)
        result = crawl(site, tmp / "db.sqlite", {"LINKHEALTH_MAX_FILE_BYTES": "4096"}, timeout=60)
    return result, web


def test_special_files_and_links_out_of_the_site_are_recorded_with_their_reason(hostile_files):
    result, _ = hostile_files
    docs = documents(result)
    assert {path: docs[path]["parse_error"] for path in FILE_REASONS} == FILE_REASONS
    assert docs["inside.md"]["parse_error"] is None  # a link to a file inside the site is read
    assert result.run()["parse_errors"] == len(FILE_REASONS)
    assert "Ignoring the site configuration: _config.yml: " + OUTSIDE_LINK in result.log


def test_nothing_outside_the_site_is_requested_and_the_rest_is_checked(hostile_files):
    result, web = hostile_files
    targets = {entry.target for entry in web.requests}
    assert targets == {"/ok?good", "/ok?inside-target", "/ok?last"}
    outcomes = checked(result)
    assert outcomes["/relative.png"] == "invalid_url"  # the outside _config.yml gave no base


def test_every_report_with_parse_errors_names_each_skipped_file(hostile_files):
    """JSON, Markdown and HTML list the documents with errors (CSV is one row per URL)."""
    result, _ = hostile_files
    report = scrapy_command("report", "--db", str(result.db_path), "--format", "json")
    assert report.returncode == 0, report.stderr
    errors = {e["path"]: e["error"] for e in json.loads(report.stdout)["parse_errors"]}
    assert errors == FILE_REASONS
    for fmt in ("md", "html"):
        report = scrapy_command("report", "--db", str(result.db_path), "--format", fmt)
        assert report.returncode == 0, report.stderr
        for path in FILE_REASONS:
            assert path in report.stdout, (fmt, path)


def test_following_symlinks_reads_outside_once_and_never_special_files(tmp_path):
    with Web() as web:
        site = hostile_tree(tmp_path, web)
        result = crawl(site, tmp_path / "db.sqlite", {"LINKHEALTH_FOLLOW_SYMLINKS": "1",
                                                      "LINKHEALTH_MAX_FILE_BYTES": "4096"},
                       timeout=60)
    docs = documents(result)
    assert docs["outside.md"]["parse_error"] is None
    assert docs["outside-dir/inner.md"]["parse_error"] is None
    assert docs["zero.md"]["parse_error"] == FILE_REASONS["zero.md"]
    assert docs["fifo.md"]["parse_error"] == FILE_REASONS["fifo.md"]
    # The loop is the site itself: entered never, as the site's directory was entered already.
    assert not [path for path in docs if path.startswith("loop")]
    assert {"/ok?outside-file", "/ok?outside-dir"} <= {e.target for e in web.requests}


def test_unchanged_documents_obey_the_same_rules(tmp_path):
    """A file recorded cleanly, then swapped for a FIFO and a link to /dev/zero: the check
    for unchanged bytes must not read them either."""
    with Web() as web:
        site = write_site(tmp_path / "site", {
            "fifo.md": {"webUrl": web.url("/ok?fifo")},
            "zero.md": {"webUrl": web.url("/ok?zero")},
            "outside.md": {"webUrl": web.url("/ok?outside")},
            "good.md": {"webUrl": web.url("/ok?good")}})
        outside = write_site(tmp_path / "outside", {})
        (outside / "outside.md").write_bytes((site / "outside.md").read_bytes())
        db = tmp_path / "db.sqlite"
        crawl(site, db)
        (site / "fifo.md").unlink()
        os.mkfifo(site / "fifo.md")
        (site / "zero.md").unlink()
        (site / "zero.md").symlink_to("/dev/zero")
        (site / "outside.md").unlink()
        (site / "outside.md").symlink_to(outside / "outside.md")  # the very same bytes
        second = crawl(site, db, timeout=60)
    docs = documents(second)
    assert docs["fifo.md"]["parse_error"] == FILE_REASONS["fifo.md"]
    assert docs["zero.md"]["parse_error"] == FILE_REASONS["zero.md"]
    assert docs["outside.md"]["parse_error"] == OUTSIDE_LINK
    assert docs["good.md"]["parse_error"] is None
    assert second.run()["parse_errors"] == 3


# -- a reader that is stuck ---------------------------------------------------------------

def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def _reader_process(pid: int) -> int | None:
    """The crawl's worker process that reads the site (not multiprocessing's resource tracker)."""
    for child in _children(pid):
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes()
        except FileNotFoundError:
            continue
        if b"multiprocessing.spawn" in command or b"spawn_main" in command:
            return child
    return None


def test_a_crawl_whose_reader_is_stuck_still_stops_on_sigterm(tmp_path):
    """The reader process stops answering (SIGSTOP: as stuck as a hung file system makes it).
    SIGTERM must still end the crawl, and the run is kept as interrupted."""
    with Web() as web:
        site = write_site(tmp_path / "site", {
            f"_news/{n:04}.md": {"webUrl": web.url(f"/ok?n={n}")} for n in range(3000)})
        db = tmp_path / "db.sqlite"
        command = [sys.executable, "-m", "scrapy", "crawl", "links", "-a", f"source={site}",
                   "-s", f"LINKHEALTH_DB={db}", "-s", "LINKHEALTH_READ_PROCESS_AFTER=1",
                   "-s", "LINKHEALTH_READ_BATCH=1"]
        for name, value in TEST_SETTINGS.items():
            command += ["-s", f"{name}={value}"]
        crawl_process = subprocess.Popen(command, cwd=REPO, stderr=subprocess.PIPE, text=True,
                                         env={**os.environ, "PYTHONUNBUFFERED": "1"})
        reader = None
        try:
            for line in crawl_process.stderr:  # wait for the event, not for a time
                if "Reading the rest of the site in a worker process" in line:
                    break
            deadline = time.monotonic() + 30
            while (reader := _reader_process(crawl_process.pid)) is None \
                    and time.monotonic() < deadline:
                time.sleep(0.01)  # polling for the process to exist, with a deadline
            assert reader is not None
            os.kill(reader, signal.SIGSTOP)
            crawl_process.send_signal(signal.SIGTERM)
            log = crawl_process.communicate(timeout=60)[1]
            # The crawl killed its reader and waited for it: nothing is left behind.
            reader_left = Path(f"/proc/{reader}").exists()
        finally:
            if crawl_process.poll() is None:
                crawl_process.kill()
                crawl_process.wait()
            if reader is not None and Path(f"/proc/{reader}").exists():
                os.kill(reader, signal.SIGKILL)  # our own child's child, by its pid
    assert crawl_process.returncode == 1, log[-3000:]
    assert "Received SIGTERM" in log
    assert not reader_left
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT status FROM runs").fetchall() == [("interrupted",)]
