"""Nothing secret is stored or shown: URL passwords, cookies, Authorization."""

from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from crawler.core.urls import redact, redact_text
from tests.crawl import crawl, scrapy_command, write_site
from tests.webserver import Web

SECRET = "s3cr3t-pa55"


def every_text_in(db) -> str:
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '%fts%'")]
        return "\n".join(str(value) for table in tables
                         for row in conn.execute(f"SELECT * FROM [{table}]") for value in row)


@pytest.mark.e2e
def test_url_passwords_never_reach_the_database_reports_or_logs(tmp_path):
    with Web() as web:
        def with_password(path: str) -> str:
            return web.url(path).replace("http://", f"http://editor:{SECRET}@")

        site = write_site(tmp_path / "site", {"a.md": {
            "webUrl": with_password("/page/c?cookie"),   # archived, answers with Set-Cookie
            "originalUrl": with_password("/status/503"),  # retried, then Scrapy logs "Gave up"
            "related": [{"webUrl": with_password("/chain/2?code=301")},
                        {"webUrl": "ftp://editor:" + SECRET + "@files.example.org/x"}],
        }})
        db = tmp_path / "db.sqlite"
        result = crawl(site, db, settings={"LOG_LEVEL": "DEBUG"})
    assert "Gave up retrying" in result.log  # the line that would have shown it
    assert SECRET not in result.log
    stored = every_text_in(db)
    assert SECRET not in stored
    assert "editor:***@" in stored
    assert "session=secret-value" not in stored  # Set-Cookie of the archived page
    for fmt in ("md", "html", "json", "csv"):
        report = scrapy_command("report", "--db", str(db), "--format", fmt, "--all")
        assert report.returncode == 0, report.stderr
        assert SECRET not in report.stdout


def test_redact_text_keeps_everything_but_the_password():
    line = "Gave up retrying <GET http://user:pw@h.example/x?a=b> and https://u:p:q@x/"
    assert redact_text(line) == "Gave up retrying <GET http://user:***@h.example/x?a=b> and https://u:***@x/"
    assert redact_text("mailto:someone@example.org and http://host/a@b") == \
        "mailto:someone@example.org and http://host/a@b"
    assert redact_text("<GET http://u:p@ss@h/> 'https://ghp_x@h'") == "<GET http://u:***@h/> 'https://***@h'"


# -- every form of user info (issue 16) -----------------------------------------------

@pytest.mark.parametrize("written, redacted", [
    ("http://u:p@ss@host/x", "http://u:***@host/x"),          # a raw '@' in the password
    ("user:pass@host/path", "user:***@host/path"),            # no scheme
    ("   http://u:pw@host/ ", "   http://u:***@host/ "),      # spaces around: kept, and redacted
    ("https://ghp_0123abc@github.com/o/r", "https://***@github.com/o/r"),  # a token as user name
    ("//u:pw@host/", "//u:***@host/"),
    ("https://u:pw@[::1]:8080/", "https://u:***@[::1]:8080/"),
    ("https://mastodon.social/@alice", "https://mastodon.social/@alice"),  # '@' in a path
    ("mailto:someone@example.org", "mailto:someone@example.org"),
    ("https://host/?next=a@b", "https://host/?next=a@b"),
])
def test_redact_hides_the_user_info_as_a_parser_reads_it(written, redacted):
    assert redact(written) == redacted


SECRETS = ("rawat-first", "rawat-second", "noscheme-pass", "leading-pass", "overlong-pass",
           "ghp_tokenuser0123", "body-pass", "redirect-pass", "rawat-redirect")


def every_byte_of(db: Path) -> bytes:
    """The database file and its WAL: whatever a table, an index, FTS or a free page holds."""
    return b"".join(path.read_bytes() for path in db.parent.glob(db.name + "*"))


@contextmanager
def redirecting_to(location: str):
    """A server on 127.0.0.1 whose every answer is a 302 to ``location`` (which the request
    URL does not show)."""
    class Redirect(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(302)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/moved"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.mark.e2e
def test_no_form_of_user_info_reaches_the_database_file_reports_or_log(tmp_path):
    with Web() as web, redirecting_to(
            f"http://editor:redirect-pass@rawat-redirect@127.0.0.1:{web.port}/ok?after") as moved:
        host = f"127.0.0.1:{web.port}"
        site = write_site(tmp_path / "site", {
            "a.md": {
                "webUrl": f"http://editor:rawat-first@rawat-second@{host}/ok?raw-at",
                "originalUrl": f"editor:noscheme-pass@{host}/ok?no-scheme",
                "ampWebUrl": f"   http://editor:leading-pass@{host}/ok?leading",
                "cdnAmpWebUrl": f"http://editor:overlong-pass@{host}/ok?" + "a" * 40_000,
                "website": f"http://ghp_tokenuser0123@{host}/ok?token",
                "related": [{"webUrl": moved}],
            },
            "b.md": f"---\ntitle: B\n---\nSee [it](http://editor:body-pass@{host}/ok?body).\n",
            "token.md": {"webUrl": f"http://ghp_tokenuser0123@{host}/ok?token-only"},
        })
        db = tmp_path / "db.sqlite"
        result = crawl(site, db, settings={"LOG_LEVEL": "DEBUG"}, args={"body_links": "1"})
    assert "Redirecting (302)" in result.log  # the line that would have shown one
    stored = every_byte_of(db)
    for secret in SECRETS:
        assert secret not in result.log, secret
        assert secret.encode() not in stored, secret
    assert b"editor:***@" in stored and b"***@127.0.0.1" in stored
    for fmt in ("md", "html", "json", "csv"):
        report = scrapy_command("report", "--db", str(db), "--format", fmt, "--all")
        assert report.returncode == 0, report.stderr
        for secret in SECRETS:
            assert secret not in report.stdout, (fmt, secret)
    # What can be checked still is: the request went out with the credentials.
    assert result.check(f"http://editor:***@{host}/ok?raw-at")["outcome"] == "ok"
    # The database keeps user info redacted, so it cannot give it back: parsed every run.
    assert [row["source_digest"] for row in result.db.query(
        "SELECT source_digest FROM documents WHERE path = 'token.md'")] == [None]
    redirected = result.check(moved)
    assert redirected["final_url"] == f"http://editor:***@{host}/ok?after"
    assert redirected["redirects"] == [{"url": moved, "status": 302}]
