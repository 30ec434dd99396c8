"""Bad input never stops a run: every broken file and URL is recorded and counted."""

from __future__ import annotations

import json

import pytest

from tests.crawl import crawl, write_site
from tests.webserver import Web

pytestmark = pytest.mark.e2e

BROKEN_YAML = "---\ntitle: Broken\nwebUrl: [unclosed\nother: 1\n---\nBody\n"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bad-input")
    with Web() as web:
        site = write_site(tmp / "site", {
            "_news/good.md": {
                "title": "Good",
                "webUrl": web.url("/ok?good"),
                "images": [{"url": "/assets/logo.png"}],  # site-relative, no base URL
                "links": ["mailto:editor@example.org", "javascript:alert(1)",
                          "data:text/plain,hello", "ftp://files.example.org/a.zip"],
                "originalUrl": "http://[::1",
                "ampWebUrl": 12345,
                "cdnAmpWebUrl": True,
                "secured": "/8d7+xgh05IsmeXaVVt6Ne9K//aV8499mp0g==",
            },
            "_news/broken-yaml.md": BROKEN_YAML,
            "_news/list.md": "---\n- just\n- a list\n---\n",
            "_news/latin1.md": b"---\ntitle: caf\xe9\n---\n",
            "_news/unclosed.md": "---\ntitle: never closed\nwebUrl: https://example.org/\n",
            "_news/no-front-matter.md": "# Just Markdown\n",
            "notes.txt": "---\nwebUrl: http://ignored.example/\n---\n",
        })
        (site / "_news" / "dangling.md").symlink_to(site / "missing-target.md")
        result = crawl(site, tmp / "db.sqlite")
        yield result, web


def document(result, path):
    rows = list(result.db.query("SELECT * FROM documents WHERE path = ?", [path]))
    assert rows, f"{path} not recorded"
    return rows[0]


def url_check(result, key):
    rows = list(result.db.query(
        "SELECT c.outcome, c.error FROM checks c JOIN urls u ON u.id = c.url_id WHERE u.url = ?", [key]))
    assert len(rows) == 1, f"{key}: {rows}"
    return rows[0]["outcome"], rows[0]["error"]


def test_malformed_yaml_is_recorded_with_its_line(world):
    result, _ = world
    row = document(result, "_news/broken-yaml.md")
    assert row["parse_error"].startswith("invalid YAML front matter")
    assert row["error_line"] in (4, 5)  # the line after the unclosed '[' (PyYAML notices there)


@pytest.mark.parametrize("path, message", [
    ("_news/list.md", "front matter is a list, not a mapping"),
    ("_news/latin1.md", "invalid UTF-8 at byte 14 (line 2)"),
    ("_news/unclosed.md", "front matter is not closed"),
    ("_news/dangling.md", "cannot read file"),
])
def test_unusable_documents_are_recorded(world, path, message):
    result, _ = world
    assert message in document(result, path)["parse_error"]


def test_files_without_front_matter_or_other_suffixes_are_skipped(world):
    result, _ = world
    paths = {row["path"] for row in result.db.query("SELECT path FROM documents")}
    assert "_news/no-front-matter.md" not in paths and "notes.txt" not in paths
    assert result.run()["skipped_files"] == 1


@pytest.mark.parametrize("key, reason", [
    ("mailto:editor@example.org", "unsupported scheme 'mailto:'"),
    ("javascript:alert(1)", "unsupported scheme 'javascript:'"),
    ("data:text/plain,hello", "unsupported scheme 'data:'"),
    ("ftp://files.example.org/a.zip", "unsupported scheme 'ftp:'"),
    ("http://[::1", "URL does not parse: Invalid IPv6 URL"),
    ("12345", "not a string (int)"),
    ("True", "not a string (bool)"),
])
def test_invalid_urls_are_recorded_with_the_reason(world, key, reason):
    result, _ = world
    assert url_check(result, key) == ("invalid_url", reason)


def test_site_relative_url_without_a_base_is_invalid(world):
    result, _ = world
    outcome, error = url_check(result, "/assets/logo.png")
    assert outcome == "invalid_url"
    assert "no site base URL" in error


def test_secured_is_not_a_link(world):
    result, _ = world
    fields = {row["field"] for row in result.db.query("SELECT field FROM refs")}
    assert not any(field.startswith("secured") for field in fields)


def test_good_links_in_the_same_run_are_still_checked(world):
    result, web = world
    assert url_check(result, web.url("/ok?good")) == ("ok", None)


def test_run_summary_counts_every_problem(world):
    result, _ = world
    run = result.run()
    assert run["status"] == "finished"
    assert (run["documents"], run["parse_errors"], run["skipped_files"]) == (6, 5, 1)
    assert json.loads(run["summary"]) == {"invalid_url": 8, "ok": 1}
    assert (run["refs"], run["unique_urls"], run["requested"]) == (9, 9, 1)


def test_parse_errors_are_reported(world, tmp_path):
    result, _ = world
    from tests.crawl import scrapy_command

    report = scrapy_command("report", "--db", str(result.db_path), "--format", "json")
    assert report.returncode == 0, report.stderr
    errors = {e["path"] for e in json.loads(report.stdout)["parse_errors"]}
    assert errors == {"_news/broken-yaml.md", "_news/list.md", "_news/latin1.md",
                      "_news/unclosed.md", "_news/dangling.md"}


def test_body_links_are_checked_only_when_asked(tmp_path):
    with Web() as web:
        body = f"See [the page]({web.url('/ok?body')}) and ![logo]({web.url('/image.png')}).\n"
        site = write_site(tmp_path / "site", {"a.md": f"---\ntitle: A\n---\n{body}"})
        without = crawl(site, tmp_path / "without.sqlite")
        assert without.run()["refs"] == 0 and web.requests == []
        with_body = crawl(site, tmp_path / "with.sqlite", args={"body_links": "1"})
    assert with_body.refs(web.url("/ok?body")) == [("a.md", "body:line 4", "page", web.url("/ok?body"))]
    assert with_body.refs(web.url("/image.png"))[0][2] == "image"
    assert with_body.check(web.url("/ok?body"))["outcome"] == "ok"


def test_missing_source_is_a_clear_error(tmp_path):
    from tests.crawl import scrapy_command

    process = scrapy_command("crawl", "links", "-a", f"source={tmp_path / 'nope'}",
                             "-s", f"LINKHEALTH_DB={tmp_path / 'db.sqlite'}")
    assert process.returncode != 0
    assert "source is not a directory" in process.stderr
