"""The report is written in pieces: the same text as whole, and a failed write loses nothing.

A report of every URL (``--all``) on a large run is hundreds of MB; ``scrapy report`` writes
each format's pieces as they are made (``CHUNK_RENDERERS``) into a file it renames over
the output at the end.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from crawler.report import html as report_html

from crawler.report import csv_report, json_report, markdown
from crawler.commands.report import Command
from crawler.core.items import CheckItem, DocumentItem, Hop, RefItem
from crawler.report.model import build_report
from crawler.report.formats import CHUNK_RENDERERS, render
from crawler.report.json_report import report_dict
from crawler.store.database import Store

REPO = Path(__file__).resolve().parent.parent
OUTCOMES = ("ok", "ok", "ok", "broken", "timeout", "dns_error")


def check(n: int) -> CheckItem:
    url = f"https://h{n % 7}.example/p/{n}?q=a,b&é={n}"
    outcome = OUTCOMES[n % len(OUTCOMES)]
    if n % 11 == 0:  # a permanent redirect
        return CheckItem(url, "ok", status=200, final_url=url + "/new",
                         redirects=[Hop(url, 301)], permanent_redirect=True,
                         checked_at="2024-03-01T10:00:00Z")
    return CheckItem(url, outcome, status=200 if outcome == "ok" else 404,
                     final_url=url, error=None if outcome == "ok" else f"<{outcome}> & more",
                     checked_at="2024-03-01T10:00:00Z")


@pytest.fixture(scope="module")
def db_path(tmp_path_factory) -> Path:
    """40 documents referencing 90 URLs, most of them more than once."""
    path = tmp_path_factory.mktemp("streaming") / "db.sqlite"
    checks = [check(n) for n in range(90)]
    documents = [
        DocumentItem(path=f"_news/{d:03d}-post.md", collection="news",
                     title=f"Post {d} — “quoted”", published=None, error=None,
                     error_line=None,
                     refs=[RefItem(field=f"related[{i}].webUrl", kind="link",
                                   raw=checks[(d * 5 + i) % 90].url,
                                   url=checks[(d * 5 + i) % 90].url, host=None, domain=None)
                           for i in range(6)])
        for d in range(40)]
    with Store(path) as store:
        run_id = store.start_run("site", "https://blog.example/", {})
        store.write_batch(run_id, documents=documents, checks=checks, wayback=[])
        store.finish_run(run_id, "finished", {"documents": 40}, {"ok": 1})
    return path


@pytest.fixture(scope="module", params=[False, True], ids=["problems", "all"])
def report(db_path: Path, request):
    with Store(db_path, readonly=True) as store:
        return build_report(store, include_all=request.param)


@pytest.fixture
def tiny_pieces(monkeypatch):
    """Pieces of a few lines, URLs, rows or documents each: every boundary gets crossed."""
    monkeypatch.setattr(markdown, "MD_CHUNK_LINES", 7)
    monkeypatch.setattr(json_report, "JSON_CHUNK_URLS", 3)
    monkeypatch.setattr(csv_report, "CSV_CHUNK_ROWS", 4)
    monkeypatch.setattr(report_html, "DOCUMENTS_PER_CHUNK", 2)


@pytest.mark.parametrize("fmt", sorted(CHUNK_RENDERERS))
def test_pieces_make_the_same_text(report, fmt, tiny_pieces):
    whole = render(report, fmt)
    pieces = list(CHUNK_RENDERERS[fmt](report))
    assert len(pieces) > 3
    assert "".join(pieces) == whole
    assert whole.endswith("\n") and not whole.endswith("\n\n")


def test_json_is_exactly_what_the_standard_library_writes(report, tiny_pieces):
    text = "".join(CHUNK_RENDERERS["json"](report))
    assert text == json.dumps(report_dict(report), indent=2, ensure_ascii=False) + "\n"


@pytest.mark.e2e
def test_the_command_writes_the_same_file(db_path: Path, tmp_path: Path):
    with Store(db_path, readonly=True) as store:
        expected = render(build_report(store, include_all=True), "html")
    out = tmp_path / "links.html"
    result = subprocess.run([sys.executable, "-m", "scrapy", "report", "--db", str(db_path),
                             "--all", "--format", "html", "-o", str(out)],
                            cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert out.read_text(encoding="utf-8") == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == ["links.html"]  # nothing left over


def test_a_write_that_fails_half_way_keeps_the_previous_report(tmp_path: Path):
    out = tmp_path / "links.md"
    out.write_text("yesterday's report\n", encoding="utf-8")

    def pieces():
        yield "# today's report, first half\n"
        raise OSError("No space left on device")

    with pytest.raises(OSError, match="No space left"):
        Command._write(pieces(), str(out))
    assert out.read_text(encoding="utf-8") == "yesterday's report\n"
    assert [p.name for p in tmp_path.iterdir()] == ["links.md"]  # no partial file left
