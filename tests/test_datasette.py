"""Datasette browsing: the metadata, the canned queries and the snapshot plugin, in-process.

The database comes from three real crawls of a local web whose pages change between runs:

| URL                  | run 1  | run 2  | run 3  |
|----------------------|--------|--------|--------|
| /page/gone           | ok     | 404    | 404    |
| /page/fixed          | 404    | ok     | ok     |
| /page/flaky          | ok     | 404    | ok     |
| /page/late           | ok     | ok     | 404    |
| /status/404 (2 hosts)| 404    | 404    | 404    |
| refused (127.0.0.3)  | refused| refused| refused|

plus a permanent redirect chain, an image, an image URL that answers HTML (referenced
from two documents), and an archived page with an inline script.
"""

from __future__ import annotations

import asyncio
import importlib.util
import re
import sqlite3

import pytest
import yaml
from datasette.app import Datasette

from crawler.core.items import FAILING_OUTCOMES, HostItem
from crawler.store.snapshots import compress, sha256_hex
from crawler.store.database import Store
from tests.crawl import REPO, crawl, write_site
from tests.webserver import PNG, Web, free_port

METADATA = REPO / "crawler" / "browse" / "metadata.yml"
PLUGINS = REPO / "crawler" / "browse" / "plugins"
SCRIPT_PAGE = (b"<html><head><title>Script</title></head><body>"
               b"<script>document.title='pwned'</script></body></html>")
QUERIES = {"broken_by_document", "broken_by_domain", "newly_broken", "fixed", "flaky",
           "redirects_to_update", "images_not_images", "url_history", "slow_hosts"}
ALPHA, BETA, GAMMA = "_posts/2024-01-01-alpha.md", "_posts/2024-01-02-beta.md", "_news/2024-01-03-gamma.md"


@pytest.fixture(scope="module")
def crawled(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("datasette")
    with Web() as web, Web(host="127.0.0.2") as other:
        urls = {name: web.url(f"/page/{name}") for name in ("gone", "fixed", "flaky", "late", "script")}
        urls.update(
            missing=web.url("/status/404"), other_missing=other.url("/status/404"),
            refused=f"http://127.0.0.3:{free_port('127.0.0.3')}/gone",
            redirect=web.url("/chain/2?code=301"), redirect_target=web.url("/chain/0?code=301"),
            image=web.url("/image.png"), html_image=web.url("/image-as-html.jpg"),
            shouting=web.url("/ok").replace("http://", "HTTP://"),
        )
        site = write_site(tmp / "site", {
            ALPHA: {"title": "Alpha post", "webUrl": urls["gone"], "originalUrl": urls["script"],
                    "images": [{"url": urls["image"]}, {"url": urls["html_image"]}]},
            BETA: {"title": "Beta post", "webUrl": urls["fixed"], "originalUrl": urls["other_missing"],
                   "related": [{"webUrl": urls["flaky"]}, {"webUrl": urls["redirect"]}]},
            GAMMA: {"title": "Gamma news", "webUrl": urls["late"], "originalUrl": urls["missing"],
                    "website": urls["refused"], "link": urls["shouting"],
                    "provider": {"images": [{"url": urls["html_image"]}]}},
        })
        db = tmp / "linkhealth.db"  # the database is named after the file: /linkhealth/...
        web.pages["script"] = SCRIPT_PAGE
        web.pages["fixed"] = None
        crawl(site, db)
        web.pages["gone"] = web.pages["flaky"] = None
        del web.pages["fixed"]
        crawl(site, db)
        del web.pages["flaky"]
        web.pages["late"] = None
        crawl(site, db)
    return {"db": db, "urls": urls, "tmp": tmp}


def datasette(db_path) -> Datasette:
    return Datasette([str(db_path)], metadata=yaml.safe_load(METADATA.read_text()),
                     plugins_dir=str(PLUGINS))


@pytest.fixture(scope="module")
def loop():
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture(scope="module")
def get(crawled, loop):
    ds = datasette(crawled["db"])
    return lambda path: loop.run_until_complete(ds.client.get(path))


@pytest.fixture(scope="module")
def query(get):
    def run(name: str, **params: str) -> list[dict]:
        args = "".join(f"&{key}={value}" for key, value in params.items())
        response = get(f"/linkhealth/{name}.json?_shape=array{args}")
        assert response.status_code == 200, response.text
        return response.json()
    return run


def snapshot_id(crawled, name: str) -> int:
    with sqlite3.connect(crawled["db"]) as conn:
        return conn.execute("SELECT s.id FROM snapshots s JOIN urls u ON u.id = s.url_id"
                            " WHERE u.request_url = ?", [crawled["urls"][name]]).fetchone()[0]


# -- the canned queries ----------------------------------------------------------


@pytest.mark.e2e
def test_every_canned_query_is_there(get):
    assert {q["name"] for q in get("/linkhealth.json").json()["queries"]} == QUERIES


@pytest.mark.e2e
def test_broken_by_document_is_what_to_edit_in_the_latest_run(crawled, query):
    u = crawled["urls"]
    rows = query("broken_by_document")
    assert {(r["path"], r["field"], r["url"], r["outcome"], r["failing_streak"]) for r in rows} == {
        (ALPHA, "webUrl", u["gone"], "broken", 2),
        (BETA, "originalUrl", u["other_missing"], "broken", 3),
        (GAMMA, "originalUrl", u["missing"], "broken", 3),
        (GAMMA, "webUrl", u["late"], "broken", 1),
        (GAMMA, "website", u["refused"], "connection_error", 3),
    }
    assert [r["path"] for r in rows] == sorted(r["path"] for r in rows)
    assert {r["title"] for r in rows} == {"Alpha post", "Beta post", "Gamma news"}
    assert {r["status"] for r in rows if r["outcome"] == "broken"} == {404}
    assert all(r["error"] for r in rows)


@pytest.mark.e2e
def test_broken_by_document_of_an_earlier_run(crawled, query):
    u = crawled["urls"]
    assert {(r["path"], r["field"], r["url"], r["failing_streak"]) for r in query("broken_by_document", run="1")} == {
        (BETA, "webUrl", u["fixed"], 1),
        (BETA, "originalUrl", u["other_missing"], 1),
        (GAMMA, "originalUrl", u["missing"], 1),
        (GAMMA, "website", u["refused"], 1),
    }


@pytest.mark.e2e
def test_broken_by_domain_says_which_sites_died(crawled, query):
    u = crawled["urls"]
    rows = query("broken_by_domain")
    assert [(r["domain"], r["failing_urls"], r["outcomes"], r["documents"]) for r in rows] == [
        ("127.0.0.1", 3, "broken: 3", 2),
        ("127.0.0.2", 1, "broken: 1", 1),
        ("127.0.0.3", 1, "connection_error: 1", 1),
    ]
    assert rows[0]["example_url"] in {u["gone"], u["late"], u["missing"]}
    assert [r["example_url"] for r in rows[1:]] == [u["other_missing"], u["refused"]]


@pytest.mark.e2e
@pytest.mark.parametrize("run, names", [
    ("", {"late"}),
    ("2", {"gone", "flaky"}),
    ("1", {"fixed", "missing", "other_missing", "refused"}),  # first seen failing
])
def test_newly_broken(crawled, query, run, names):
    rows = query("newly_broken", run=run)
    assert {r["url"] for r in rows} == {crawled["urls"][name] for name in names}
    assert all(r["previous_outcome"] in (None, "ok") for r in rows)


@pytest.mark.e2e
def test_newly_broken_names_the_referring_documents(crawled, query):
    [row] = query("newly_broken")
    assert (row["outcome"], row["status"], row["referenced_by"]) == ("broken", 404, f"{GAMMA} webUrl")


@pytest.mark.e2e
@pytest.mark.parametrize("run, names", [("", {"flaky"}), ("2", {"fixed"}), ("1", set())])
def test_fixed(crawled, query, run, names):
    rows = query("fixed", run=run)
    assert {r["url"] for r in rows} == {crawled["urls"][name] for name in names}
    assert all(r["previous_outcome"] == "broken" for r in rows)


@pytest.mark.e2e
def test_flaky_urls_changed_state_twice(crawled, query):
    rows = query("flaky")
    assert [(r["url"], r["state_changes"], r["outcomes"]) for r in rows] == [
        (crawled["urls"]["flaky"], 2, "ok > broken > ok")]
    assert query("flaky", runs="2") == []  # broken > ok: one change only
    assert [r["url"] for r in query("flaky", runs="3")] == [crawled["urls"]["flaky"]]


@pytest.mark.e2e
def test_redirects_to_update(crawled, query):
    u = crawled["urls"]
    assert {(r["path"], r["field"], r["old_url"], r["new_url"]) for r in query("redirects_to_update")} == {
        (BETA, "related[1].webUrl", u["redirect"], u["redirect_target"])}


def test_slow_hosts_say_what_each_host_needed(tmp_path, loop):
    db_path = tmp_path / "linkhealth.db"
    with Store(db_path) as store:
        run_id = store.start_run("site", None, {})
        store.write_batch(run_id, [], [], hosts=[
            HostItem("cdn.example", rate_limited=57, slowest_rate=4.2, longest_wait=10.0),
            HostItem("dead.example", state="unresponsive: 12 consecutive timeouts",
                     settled=148, probes=2)])
    ds = datasette(db_path)
    response = loop.run_until_complete(ds.client.get("/linkhealth/slow_hosts.json?_shape=array"))
    assert response.json() == [
        {"host": "dead.example", "paced": None, "state": "unresponsive: 12 consecutive timeouts",
         "urls_settled_without_request": 148, "reopened": 0, "probes": 2},
        {"host": "cdn.example",
         "paced": "slowed to 4.2 requests/s by 57 rate-limit answers (longest wait 10 s)",
         "state": None, "urls_settled_without_request": 0, "reopened": 0, "probes": 0}]


@pytest.mark.e2e
def test_images_that_are_not_images(crawled, query):
    u = crawled["urls"]
    rows = query("images_not_images")
    assert {(r["path"], r["field"], r["url"]) for r in rows} == {
        (ALPHA, "images[1].url", u["html_image"]),
        (GAMMA, "provider.images[0].url", u["html_image"]),
    }
    assert {r["content_type"] for r in rows} == {"text/html; charset=utf-8"}


@pytest.mark.e2e
def test_url_history_by_stored_or_requested_url(crawled, query):
    u = crawled["urls"]
    rows = query("url_history", url=u["flaky"])
    assert [(r["run_id"], r["outcome"], r["status"]) for r in rows] == [
        (3, "ok", 304), (2, "broken", 404), (1, "ok", 200)]
    assert rows[0]["snapshot_id"] == rows[2]["snapshot_id"] == snapshot_id(crawled, "flaky")
    assert rows[1]["snapshot_id"] is None and rows[1]["error"]
    # The URL as written (HTTP://...) is the request_url; the stored key is lower-case.
    as_written = query("url_history", url=u["shouting"])
    as_stored = query("url_history", url=u["shouting"].replace("HTTP://", "http://"))
    assert [r["check_id"] for r in as_written] == [r["check_id"] for r in as_stored]
    assert [r["run_id"] for r in as_written] == [3, 2, 1]
    assert query("url_history", url="http://nowhere.invalid/") == []


def test_failing_outcomes_in_the_queries_are_the_crawlers():
    metadata = yaml.safe_load(METADATA.read_text())
    lists = [set(re.findall(r"'(\w+)'", match))
             for q in metadata["databases"]["linkhealth"]["queries"].values()
             for match in re.findall(r"IN \(('[^)]*')\)", q["sql"]) if "'broken'" in match]
    assert len(lists) >= 4  # broken_by_document, broken_by_domain, flaky (twice)
    assert all(outcomes - {"ok"} == FAILING_OUTCOMES for outcomes in lists)


# -- snapshots are never rendered as HTML on Datasette's origin ------------------


def assert_safe_headers(response):
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"] == "sandbox"


@pytest.mark.e2e
def test_an_image_snapshot_is_served_inline_with_its_type(crawled, get):
    snapshot = snapshot_id(crawled, "image")
    response = get(f"/-/linkhealth/snapshot/linkhealth/{snapshot}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.headers["content-disposition"].startswith("inline")
    assert response.content == PNG
    assert_safe_headers(response)


@pytest.mark.e2e
def test_an_html_snapshot_is_a_download_never_a_page(crawled, get):
    snapshot = snapshot_id(crawled, "script")
    response = get(f"/-/linkhealth/snapshot/linkhealth/{snapshot}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/octet-stream"
    # Named as the report's copy: opened after the download, it shows its source, runs nothing.
    assert response.headers["content-disposition"] == \
        f'attachment; filename="snapshot-{snapshot}.html.txt"'
    assert response.content == SCRIPT_PAGE
    assert_safe_headers(response)


@pytest.mark.e2e
def test_an_html_answer_to_an_image_url_is_a_download(crawled, get):
    response = get(f"/-/linkhealth/snapshot/linkhealth/{snapshot_id(crawled, 'html_image')}")
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-disposition"].startswith("attachment;")


@pytest.mark.e2e
@pytest.mark.parametrize("path", ["/-/linkhealth/snapshot/linkhealth/999999",
                                  "/-/linkhealth/snapshot/elsewhere/1"])
def test_unknown_snapshots_are_404(get, path):
    response = get(path)
    assert response.status_code == 404
    assert_safe_headers(response)


@pytest.mark.e2e
def test_an_svg_snapshot_is_a_download(crawled, tmp_path, loop):
    """SVG is an image that can carry script: a download like HTML."""
    copy = tmp_path / "linkhealth.db"
    with sqlite3.connect(crawled["db"]) as source, sqlite3.connect(copy) as target:
        source.backup(target)
        svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
        target.execute("INSERT INTO blobs (digest, size, compressed_size, compression, data)"
                       " VALUES (?, ?, 0, 'zstd', ?)", [sha256_hex(svg), len(svg), compress(svg)])
        snapshot = target.execute(
            "INSERT INTO snapshots (url_id, run_id, url, status, content_type, size, digest)"
            " VALUES (1, 1, 'http://x/a.svg', 200, 'image/svg+xml', ?, ?)",
            [len(svg), sha256_hex(svg)]).lastrowid
    response = loop.run_until_complete(
        datasette(copy).client.get(f"/-/linkhealth/snapshot/linkhealth/{snapshot}"))
    assert response.status_code == 200 and response.content == svg
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-disposition"] == \
        f'attachment; filename="snapshot-{snapshot}.svg.txt"'
    assert_safe_headers(response)


# Types a browser runs as a document or a script when the file is opened: none may keep an
# extension that makes it one (issue 16).
EXECUTABLE_TYPES = ("text/html", "text/html; charset=utf-8", "TEXT/HTML", "application/xhtml+xml",
                    "image/svg+xml", "text/xml", "application/xml", "application/rss+xml",
                    "text/xsl", "application/xslt+xml", "text/javascript",
                    "application/javascript", "application/x-javascript", "text/ecmascript",
                    "application/ecmascript", "application/pdf", "application/x-shockwave-flash",
                    "text/x-unknown", "")


@pytest.mark.e2e
def test_no_download_is_named_as_something_that_runs(crawled, tmp_path, loop):
    copy = tmp_path / "linkhealth.db"
    body = b"<script>alert(1)</script>"
    with sqlite3.connect(crawled["db"]) as source, sqlite3.connect(copy) as target:
        source.backup(target)
        target.execute("INSERT OR IGNORE INTO blobs (digest, size, compressed_size, compression,"
                       " data) VALUES (?, ?, 0, 'zstd', ?)",
                       [sha256_hex(body), len(body), compress(body)])
        ids = {content_type: target.execute(
            "INSERT INTO snapshots (url_id, run_id, url, status, content_type, size, digest)"
            " VALUES (1, 1, 'http://x/a', 200, ?, ?, ?)",
            [content_type, len(body), sha256_hex(body)]).lastrowid
            for content_type in EXECUTABLE_TYPES}
    client = datasette(copy).client
    for content_type, snapshot in ids.items():
        response = loop.run_until_complete(
            client.get(f"/-/linkhealth/snapshot/linkhealth/{snapshot}"))
        disposition = response.headers["content-disposition"]
        name = re.fullmatch(r'attachment; filename="(snapshot-\d+(\.[a-z]+)*)"', disposition)
        assert name, (content_type, disposition)
        assert name.group(1).endswith((".txt", ".bin")), (content_type, disposition)
        assert response.headers["content-type"] == "application/octet-stream"


def test_what_is_served_inline():
    spec = importlib.util.spec_from_file_location("snapshots_plugin", PLUGINS / "linkhealth_snapshots.py")
    plugin = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(plugin)
    assert plugin.image_type("image/png") == "image/png"
    assert plugin.image_type("IMAGE/JPEG; charset=binary") == "image/jpeg"
    for unsafe in ("image/svg+xml", "text/html", "application/xhtml+xml", "image/png\r\nX-A: b",
                   "image/", "", None):
        assert plugin.image_type(unsafe) is None, unsafe


@pytest.mark.e2e
def test_snapshot_links_in_tables_and_queries(crawled, get):
    image, page = snapshot_id(crawled, "image"), snapshot_id(crawled, "script")
    image_url, page_url = (f"/-/linkhealth/snapshot/linkhealth/{n}" for n in (image, page))
    snapshots = get("/linkhealth/snapshots").text
    assert f'<img src="{image_url}"' in snapshots and f'<a href="{page_url}" download>download</a>' in snapshots
    checks = get(f"/linkhealth/checks?snapshot_id={page}").text
    assert f'<a href="/linkhealth/snapshots/{page}">{page}</a> <a href="{page_url}" download>' in checks
    history = get(f"/linkhealth/url_history?url={crawled['urls']['image']}").text
    assert f'<img src="{image_url}"' in history
    for html in (snapshots, checks, history, get(f"/linkhealth/snapshots/{page}").text):
        assert "document.title='pwned'" not in html and "pwned" not in html


@pytest.mark.e2e
def test_blob_data_is_only_a_binary_download(get):
    page = get("/linkhealth/blobs").text
    assert "&lt;Binary:" in page
    links = re.findall(r'href="(/linkhealth/blobs/[0-9a-f]+\.blob\?_blob_column=data)"', page)
    assert links
    response = get(links[0])
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/binary"
    assert response.headers["content-disposition"].startswith("attachment;")
    assert response.headers["x-content-type-options"] == "nosniff"


# -- search and metadata ---------------------------------------------------------


@pytest.mark.e2e
def test_full_text_search_on_documents_and_urls(crawled, get):
    documents = get("/linkhealth/documents.json?_search=gamma&_shape=array").json()
    assert [d["path"] for d in documents] == [GAMMA]
    assert [d["path"] for d in get("/linkhealth/documents.json?_search=post&_shape=array").json()] == [ALPHA, BETA]
    urls = get("/linkhealth/urls.json?_search=flaky&_shape=array").json()
    assert [u["request_url"] for u in urls] == [crawled["urls"]["flaky"]]
    for table in ("documents", "urls"):
        assert 'name="_search"' in get(f"/linkhealth/{table}").text


@pytest.mark.e2e
def test_every_table_has_a_title_and_the_fts_tables_are_hidden(get):
    database = get("/linkhealth.json").json()
    visible = {t["name"] for t in database["tables"] if not t["hidden"]}
    assert visible == {"runs", "documents", "urls", "refs", "checks", "snapshots", "blobs", "wayback",
                       "host_runs"}
    hidden = {t["name"] for t in database["tables"] if t["hidden"]}
    assert {"documents_fts", "documents_fts_data", "urls_fts", "urls_fts_idx"} <= hidden
    metadata = get("/-/metadata.json").json()
    assert metadata["title"] and metadata["description"]
    tables = metadata["databases"]["linkhealth"]["tables"]
    for name in visible | {v["name"] for v in database["views"]}:
        assert tables[name].get("title"), name
        assert tables[name].get("description"), name


@pytest.mark.e2e
def test_labels_link_rows_to_their_document_and_url(get):
    [ref] = get("/linkhealth/refs.json?_shape=array&_labels=on&field=webUrl&_size=1&_sort=id").json()
    assert isinstance(ref["document_id"]["label"], str) and ref["document_id"]["label"].endswith(("post", "news"))
    assert ref["url_id"]["label"].startswith("http://127.0.0.1:")
    [check] = get("/linkhealth/checks.json?_shape=array&_labels=on&_size=1").json()
    assert check["run_id"]["label"] and check["run_id"]["label"] != check["run_id"]["value"]
