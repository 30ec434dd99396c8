"""Validators belong to one URL (issue 14): a redirect never carries URL A's validators to B.

The server here answers 304 to any If-None-Match / If-Modified-Since it sees, on every
path, as some servers and CDNs do. Had A's validators reached B, B would answer 304 and the
check would point at A's old copy: a moved page would never be fetched and archived again,
and a deep link now redirected to the home page would look healthy.
"""

from __future__ import annotations

import json

import pytest

from crawler.store.snapshots import decompress
from crawler.core.urls import normalise
from tests.crawl import crawl, write_site
from tests.webserver import Web

pytestmark = pytest.mark.e2e

CONDITIONAL = ("if-none-match", "if-modified-since")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Run 1 on a healthy web; /page/moving then moves (301) and /page/deep redirects to the
    home page; runs 2 and 3 on that web."""
    tmp = tmp_path_factory.mktemp("conditional")
    with Web() as web:
        web.answer_any_conditional_with_304()
        urls = {name: web.url(f"/page/{name}") for name in ("moving", "deep", "steady")}
        urls["home"], urls["new"] = web.url("/"), web.url("/page/moved-here")
        site = write_site(tmp / "site", {
            "_news/a.md": {"title": "A", "webUrl": urls["moving"]},
            "_news/b.md": {"title": "B", "webUrl": urls["deep"], "originalUrl": urls["home"]},
            "_news/c.md": {"title": "C", "webUrl": urls["steady"]},
        })
        db = tmp / "db.sqlite"
        results, requests = [], []
        for run in (1, 2, 3):
            if run == 2:
                web.moves["/page/moving"] = "/page/moved-here"
                web.moves["/page/deep"] = "/"
            before = len(web.requests)
            results.append(crawl(site, db))
            requests.append(web.requests[before:])
    return {"urls": urls, "results": results, "requests": requests}


def check(runs, run: int, name: str) -> dict:
    """Run ``run``'s check of one URL (the runs share one database)."""
    row = next(runs["results"][-1].db.query(
        "SELECT c.* FROM checks c JOIN urls u ON u.id = c.url_id WHERE u.url = ? AND c.run_id = ?",
        [normalise(runs["urls"][name]), run]))
    row["redirects"] = json.loads(row["redirects"]) if row["redirects"] else []
    return row


def snapshot(runs, snapshot_id: int) -> dict:
    return next(runs["results"][-1].db.query("SELECT * FROM snapshots WHERE id = ?", [snapshot_id]))


def body(runs, snapshot_id: int) -> bytes:
    digest = snapshot(runs, snapshot_id)["digest"]
    return decompress(next(runs["results"][-1].db.query(
        "SELECT data FROM blobs WHERE digest = ?", [digest]))["data"])


def sent(runs, run: int, target: str) -> list[dict[str, str]]:
    """The conditional headers of each request the server got for ``target`` in ``run``."""
    return [{name: r.headers[name] for name in CONDITIONAL if name in r.headers}
            for r in runs["requests"][run - 1] if r.target == target]


def test_a_moved_page_is_fetched_at_its_new_location_and_archived_there(runs):
    moved = check(runs, 2, "moving")
    assert (moved["outcome"], moved["status"], moved["not_modified"]) == ("ok", 200, 0)
    assert moved["final_url"] == runs["urls"]["new"]
    assert moved["redirects"] == [{"url": runs["urls"]["moving"], "status": 301}]
    new = snapshot(runs, moved["snapshot_id"])
    assert (new["run_id"], new["final_url"]) == (2, runs["urls"]["new"])
    assert body(runs, new["id"]) == (
        b"<html><head><title>moved-here</title></head><body>Page moved-here</body></html>")


def test_a_url_s_validators_are_not_sent_to_where_it_redirects(runs):
    assert sent(runs, 2, "/page/moving") != [{}]  # its own copy's validators: asked conditionally
    assert sent(runs, 2, "/page/moved-here") == [{}]  # but not the new location


def test_the_new_location_is_then_asked_with_its_own_copy_s_validators(runs):
    again = check(runs, 3, "moving")
    assert (again["outcome"], again["status"], again["not_modified"]) == ("ok", 304, 1)
    assert again["snapshot_id"] == check(runs, 2, "moving")["snapshot_id"]
    [headers] = sent(runs, 3, "/page/moved-here")
    assert headers["if-modified-since"]


def test_a_deep_link_redirected_to_the_home_page_is_a_soft_404_in_every_run(runs):
    for run in (2, 3):
        deep = check(runs, run, "deep")
        assert deep["outcome"] == "soft_404", (run, deep)
        assert deep["error"] == f"redirected to the home page {runs['urls']['home']}"
    # run 3 asked the home page with the home page's own validators (the site links to it too)
    home_hops = sent(runs, 3, "/")
    assert len(home_hops) == 2 and all(h.get("if-modified-since") for h in home_hops)


def test_an_unchanged_url_still_gets_its_304(runs):
    first, later = check(runs, 1, "steady"), check(runs, 3, "steady")
    assert (later["outcome"], later["status"], later["not_modified"]) == ("ok", 304, 1)
    assert later["snapshot_id"] == first["snapshot_id"]


def test_a_304_points_only_at_the_copy_of_the_url_that_answered(runs):
    rows = list(runs["results"][-1].db.query(
        "SELECT c.final_url, s.final_url AS copy_of FROM checks c"
        " JOIN snapshots s ON s.id = c.snapshot_id WHERE c.not_modified = 1"))
    assert len(rows) >= 4
    assert all(normalise(row["final_url"]) == normalise(row["copy_of"]) for row in rows), rows
