"""Nothing secret is stored or shown: URL passwords, cookies, Authorization."""

from __future__ import annotations

import sqlite3

from crawler.urls import redact_text
from tests.crawl import crawl, scrapy_command, write_site
from tests.webserver import Web

SECRET = "s3cr3t-pa55"


def every_text_in(db) -> str:
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '%fts%'")]
        return "\n".join(str(value) for table in tables
                         for row in conn.execute(f"SELECT * FROM [{table}]") for value in row)


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
