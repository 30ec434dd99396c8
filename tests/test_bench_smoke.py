"""Smoke test of the benchmark harness in bench/: a few hundred URLs, well under 30 s."""

from __future__ import annotations

import hashlib
import http.client
import json
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from bench.simweb import REPO, SimWeb, hangs_on
from crawler.jobs.synthetic_site import generate_site, host_urls

RUN_KEYS = {"wall_seconds", "cpu_seconds", "peak_rss_mb", "unique_urls", "urls_per_second",
            "requests", "bytes_fetched", "not_modified", "max_concurrent_per_host",
            "db_bytes", "wal_bytes", "stored_bytes", "snapshots", "outcomes"}


def _tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _urls(value) -> list[str]:
    """Every URL string in parsed front matter, with repetitions."""
    if isinstance(value, dict):
        return [url for v in value.values() for url in _urls(v)]
    if isinstance(value, list):
        return [url for v in value for url in _urls(v)]
    return [value] if isinstance(value, str) and value.startswith("http://") else []


def test_synthetic_site_stats_match_the_files_and_a_seed_fixes_the_output(tmp_path):
    hosts = host_urls(3, 8001)
    stats = generate_site(tmp_path / "a", documents=60, hosts=hosts, seed=7, broken_files=2)
    again = generate_site(tmp_path / "b", documents=60, hosts=hosts, seed=7, broken_files=2)
    other = generate_site(tmp_path / "c", documents=60, hosts=hosts, seed=8, broken_files=2)
    assert stats == again
    assert _tree_digest(tmp_path / "a") == _tree_digest(tmp_path / "b") != _tree_digest(tmp_path / "c")
    assert other.documents == 60

    files = sorted((tmp_path / "a" / "_news").glob("*.md"))
    assert len(files) == stats.files == 62
    parsed, broken, urls = [], 0, []
    for path in files:
        try:
            front = yaml.safe_load(path.read_text(encoding="utf-8").split("---\n")[1])
        except yaml.YAMLError:
            broken += 1
            continue
        parsed.append(front)
        urls += _urls(front)
    assert (len(parsed), broken) == (stats.documents, stats.broken_files)
    assert len(urls) == stats.references >= stats.unique_urls == len(set(urls)) > 4 * 60
    assert stats.hosts_used == 3 and sum(stats.behaviours.values()) == stats.unique_urls
    article = parsed[0]
    assert article["type"] == "article" and article["originalUrl"] == article["webUrl"]
    for key in ("title", "excerpt", "publishedDateTime", "ampWebUrl", "cdnAmpWebUrl",
                "provider", "topics", "images", "secured"):
        assert key in article
    assert set(article["images"][0]) == {"url", "width", "height", "isCached"}


@pytest.mark.e2e
def test_simweb_serves_pages_and_answers_a_conditional_get_with_304():
    with SimWeb(hosts=3, latency_ms=1) as web:
        connection = http.client.HTTPConnection("127.0.0.4", web.port, timeout=10)
        connection.request("GET", "/a/n1")
        first = connection.getresponse()
        body = first.read()
        assert first.status == 200 and len(body) == 50 * 1024 and b"<title>" in body
        etag = first.getheader("ETag")
        connection.request("GET", "/a/n1", headers={"If-None-Match": etag})
        second = connection.getresponse()
        assert (second.status, second.read(), second.getheader("ETag")) == (304, b"", etag)
        connection.request("HEAD", "/moved/n1")
        moved = connection.getresponse()
        moved.read()
        assert moved.status == 301 and moved.getheader("Location").endswith(f":{web.port}/a/n1")
        connection.close()
    assert web.stats["requests"] == 3 and web.stats["not_modified"] == 1


def run_bench(tmp_path: Path, module: str, *args: str, timeout: float = 180) -> tuple[str, dict]:
    """Run ``python -m bench.MODULE ARGS --out JSON``: its printed table and its JSON."""
    out = tmp_path / "result.json"
    process = subprocess.run([sys.executable, "-m", f"bench.{module}", *args, "--out", str(out)],
                             cwd=REPO, capture_output=True, text=True, timeout=timeout)
    assert process.returncode == 0, process.stderr[-4000:]
    return process.stdout, json.loads(out.read_text())


@pytest.mark.e2e
def test_archive_bench_reports_both_runs(tmp_path):
    stdout, result = run_bench(tmp_path, "archive_bench", "--documents", "60", "--hosts", "3",
                               timeout=120)
    assert "URLs / second" in stdout
    assert set(result) == {"config", "site", "runs"}
    assert [run["run"] for run in result["runs"]] == [1, 2]
    for run in result["runs"]:
        assert RUN_KEYS <= set(run)
        assert run["urls_per_second"] > 0
        assert run["unique_urls"] == result["site"]["unique_urls"]
        assert run["requests"] >= run["unique_urls"]
        assert 1 <= run["max_concurrent_per_host"]
    assert result["runs"][0]["bytes_fetched"] > 0


def test_lean_site_has_three_references_and_one_new_url_per_article(tmp_path):
    stats = generate_site(tmp_path / "lean", documents=300, hosts=host_urls(3, 8001), lean=True)
    assert stats.references == 3 * 300
    providers = 3 * 4  # at most: the logos shared by all articles of a provider
    assert 300 < stats.unique_urls <= 300 + providers


@pytest.mark.e2e
@pytest.mark.slow
def test_scale_bench_reports_every_size_and_every_report_format(tmp_path):
    stdout, result = run_bench(tmp_path, "scale_bench", "--documents", "40,80", "--hosts", "3")
    assert "incremental: share of full run" in stdout
    sizes = result["sizes"]
    assert list(sizes) == ["40", "80"]
    for documents, size in sizes.items():
        assert size["site"]["documents"] == int(documents)
        assert size["full"]["checked_urls"] == size["full"]["unique_urls"] > int(documents)
        assert size["full"]["snapshots"] > 0
        # The incremental run requested only what was not healthy: far fewer than the full run.
        assert size["incremental"]["requests"] < size["full"]["requests"] / 3
        assert set(size["reports"]) == {f"{f}{a}" for f in ("md", "html", "json", "csv")
                                        for a in ("", " --all")}
        assert all(report["bytes"] > 0 for report in size["reports"].values())


def test_profile_summary_charges_each_sample_to_the_innermost_known_kind():
    from bench.profile import parse, summarise

    lines = [
        "main (x.py:1);write_batch (/r/crawler/store/database.py:10);execute (/lib/python3.11/sqlite3/x.py:3) 6\n",
        "main (x.py:1);_runCallbacks (/v/site-packages/twisted/internet/defer.py:9) 3\n",
        "main (x.py:1);read_document (/r/crawler/site/sources.py:5);load (/v/site-packages/yaml/x.py:2) 1\n",
    ]
    text = summarise(parse(lines))
    assert text.startswith("10 samples")
    rows = {line[:48].strip(): line.split()[-2] for line in text.splitlines()
            if line[:48].strip() in ("SQLite (store, history)", "Twisted reactor and Deferreds",
                                     "reading the site (files, YAML)")}
    assert rows == {"SQLite (store, history)": "60%", "Twisted reactor and Deferreds": "30%",
                    "reading the site (files, YAML)": "10%"}


@pytest.mark.e2e
def test_wire_bench_times_every_kind_of_entry_both_ways():
    process = subprocess.run([sys.executable, "-m", "bench.wire_bench", "--repeat", "8"],
                             cwd=REPO, capture_output=True, text=True, timeout=120)
    assert process.returncode == 0, process.stderr[-4000:]
    rows = json.loads(process.stdout.strip().splitlines()[-1])
    assert [row["item"] for row in rows] == ["request", "check, no body", "check + 50 KB page",
                                             "check + 100 KB image"]
    for row in rows:
        assert all(row[f"{way}_{part}"] > 0 for way in ("pickle", "wire")
                   for part in ("encode_us", "decode_us", "bytes"))
    assert rows[3]["wire_bytes"] > 100 * 1024  # the image's body crossed, incompressible


@pytest.mark.e2e
def test_fix_bench_edits_every_synthetic_article_without_a_refusal():
    process = subprocess.run([sys.executable, "-m", "bench.fix_bench", "--documents", "40"],
                             cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert process.returncode == 0, process.stderr
    figures = json.loads(process.stdout)
    assert figures["documents"] == 40 and figures["refused"] == {}
    assert figures["applied"] == figures["edits"] > 40 and figures["patch_bytes"] > 0


@pytest.mark.e2e
@pytest.mark.slow
def test_hostile_site_bench_holds_at_a_small_size(tmp_path):
    """Every hostile input of issue 16 in one crawl, read both in the thread and the process."""
    stdout, result = run_bench(tmp_path, "hostile_site", "--good", "30", "--process-after", "10")
    assert result["failures"] == []
    assert set(result["checks"]) == {
        "crawl exited 0", "YAML bombs, too many references", "hostile bodies",
        "special files and symbolic links", "credentials in every form",
        "untrusted text in reports and logs", "good documents checked", "reports written"}
    assert result["crawl"]["documents"] == 30 + 2 * 18  # good ones, and each hostile file twice
    assert result["crawl"]["parse_errors"] == result["site"]["bad_files"] == 26
    assert result["crawl"]["peak_rss_mb"] > 0 and "peak RSS:" in stdout


SIM_SCENARIO = {
    "seed": 0, "base": {"not_found": 0, "redirects": 0, "dns_fail_hosts": 0},
    "moved": {"https://news.sim.example/old": ["301 https://news.sim.example/hop",
                                               "308 https://news.sim.example/new"]},
    "dead": {"https://news.sim.example/gone": "410"},
    "dead_hosts": {"closed.sim.example": "refused"},
}


@pytest.mark.e2e
def test_sim_internet_crawls_made_up_hosts_through_its_proxy(tmp_path):
    """Names nothing here can resolve are answered by the simulated internet, over TLS with
    certificates of its own CA: 200s with snapshots, a moved URL's chain, dead ones."""
    from tests.crawl import write_site

    urls = {"page": "https://news.sim.example/story", "image": "https://cdn.sim.example/pic.png",
            "moved": "https://news.sim.example/old", "gone": "https://news.sim.example/gone",
            "closed": "https://closed.sim.example/page"}
    site = write_site(tmp_path / "site", {"_news/2024-01-01-a.md": {
        "title": "A", "webUrl": urls["page"], "images": [{"url": urls["image"]}],
        "related": [{"webUrl": urls[name]} for name in ("moved", "gone", "closed")]}})
    scenario, db, out = tmp_path / "web.json", tmp_path / "db.sqlite", tmp_path / "summary.json"
    scenario.write_text(json.dumps(SIM_SCENARIO), encoding="utf-8")
    process = subprocess.run(
        [sys.executable, "-m", "bench.sim_internet", "crawl", "--site", str(site), "--db", str(db),
         "--scenario", str(scenario), "--latency-ms", "0", "--python", sys.executable,
         "-s", "LINKHEALTH_RETRY_BACKOFF_BASE=0.05", "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=120)
    assert process.returncode == 0, process.stderr[-4000:]
    summary = json.loads(out.read_text())
    assert summary["outcomes"] == {"ok": 3, "broken": 1, "connection_error": 1}
    assert summary["web_vs_outcome"] == {"ok": {"ok": 2}, "moved (scenario)": {"ok": 1},
                                         "dead: 410": {"broken": 1},
                                         "dead host: refused": {"connection_error": 1}}
    assert summary["log_tracebacks"] == 0 and summary["snapshots_stored"] == 3
    proxy = summary["proxy"]
    assert proxy["tls_handshakes"] >= 2 and proxy["requests"] >= 6 and proxy["cpu_seconds"] > 0

    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    checks = {row["url"]: row for row in con.execute(
        "SELECT u.url, c.* , s.content_type AS archived_type FROM checks c"
        " JOIN urls u ON u.id = c.url_id LEFT JOIN snapshots s ON s.id = c.snapshot_id")}
    page, image = checks[urls["page"]], checks[urls["image"]]
    assert (page["outcome"], page["status"], page["archived_type"]) == ("ok", 200, "text/html; charset=utf-8")
    assert (image["outcome"], image["archived_type"]) == ("ok", "image/png")
    moved = checks[urls["moved"]]
    assert json.loads(moved["redirects"]) == [{"url": urls["moved"], "status": 301},
                                              {"url": "https://news.sim.example/hop", "status": 308}]
    assert (moved["final_url"], moved["permanent_redirect"]) == ("https://news.sim.example/new", 1)
    assert (checks[urls["gone"]]["outcome"], checks[urls["gone"]]["status"]) == ("broken", 410)
    closed = checks[urls["closed"]]  # the proxy refused the tunnel: no name was looked up here
    assert closed["outcome"] == "connection_error" and "CONNECT tunnel" in closed["error"]


@pytest.mark.e2e
def test_sim_internet_validators_belong_to_one_url(tmp_path):
    """A 304 answers only the ETag of the URL asked: another URL's ETag gets the page."""
    import argparse
    import ssl

    from bench.sim_internet import ProxyProcess

    scenario = tmp_path / "web.json"
    scenario.write_text(json.dumps({"seed": 3, "base": {"not_found": 0, "redirects": 0}}),
                        encoding="utf-8")
    args = argparse.Namespace(latency_ms=0, page_kb=4, image_kb=2)
    with ProxyProcess(scenario, args) as proxy:
        port = int(proxy.url.rsplit(":", 1)[1])
        context = ssl.create_default_context(cafile=proxy.ca)

        def get(path: str, etag: str | None = None) -> tuple[int, str, bytes]:
            connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
            connection.set_tunnel("www.sim.example", 443)
            connection.request("GET", path, headers={"If-None-Match": etag} if etag else {})
            answer = connection.getresponse()
            result = answer.status, answer.getheader("ETag"), answer.read()
            connection.close()
            return result

        status_a, etag_a, body_a = get("/a")
        status_b, etag_b, body_b = get("/b")
        assert (status_a, status_b) == (200, 200) and etag_a != etag_b and body_a != body_b
        assert get("/a") == (200, etag_a, body_a)  # deterministic
        assert get("/a", etag_a)[0] == 304
        assert get("/b", etag_a) == (200, etag_b, body_b)
    assert proxy.final["statuses"] == {"200": 4, "304": 1}


def test_sim_internet_scenario_choice_is_deterministic_and_disjoint():
    from bench.sim_scenario import Shares, choose
    from bench.sim_world import Base, Scenario, World

    urls = [f"https://h{i % 7}.sim.example/p/{i}" for i in range(400)]
    base = Scenario(seed=5, base=Base(not_found=0.1, redirects=0.1, dns_fail_hosts=0))
    shares = Shares(moved=0.1, dead=0.05, dead_as=("404", "hang"), changed=0.05)
    first, again = choose(urls, base, shares), choose(urls, base, shares)
    other = choose(urls, base, Shares(moved=0.1, dead=0.05, draw=1))
    assert first.scenario == again.scenario and first.scenario.moved != other.scenario.moved
    chosen = first.scenario
    assert 240 < first.eligible < 400  # the base web's 404s and redirects are not candidates
    assert len(chosen.moved) == round(0.1 * first.eligible)
    assert len(chosen.dead) == round(0.05 * first.eligible) == len(chosen.changed)
    assert not set(chosen.moved) & set(chosen.dead) and not set(chosen.dead) & set(chosen.changed)
    assert set(chosen.dead.values()) == {"404", "hang"}
    world = World(chosen)
    for url, chain in chosen.moved.items():  # each hop answers the next; the last one is a 200
        here = url
        for status, target in chain:
            answer = world.answer(here, {})
            assert (answer.status, dict(answer.headers)["Location"]) == (status, target)
            assert status in (301, 308)
            here = target
        assert world.answer(here, {}).status == 200


@pytest.mark.e2e
def test_simweb_hosts_rate_limit_lock_out_hang_and_stay_down():
    profile = {"0": {"rate": [1, 1]}, "1": {"lockout": [1, 60]}, "2": {"down": True},
               "3": {"hang": True}}
    with SimWeb(hosts=4, extra=["--profile", json.dumps(profile)]) as web:
        def get(host: int, path: str, timeout: float = 10) -> http.client.HTTPResponse:
            connection = http.client.HTTPConnection(web.hosts[host].split("//")[1], timeout=timeout)
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            connection.close()
            return response

        assert get(0, "/a/1").status == 200
        limited = get(0, "/a/2")  # the bucket of one token is empty: its next token is 1 s away
        assert (limited.status, limited.getheader("Retry-After")) == (429, "1")
        assert get(1, "/a/1").status == 200
        locked = [get(1, f"/a/{i}") for i in range(2, 4)]  # 2 in a second: locked out
        assert [(r.status, r.getheader("Retry-After")) for r in locked] == [(429, None)] * 2
        with pytest.raises(ConnectionRefusedError):
            get(2, "/a/1")
        with pytest.raises(TimeoutError):
            get(3, "/a/1", timeout=0.5)
        by_host = web.snapshot()["by_host"]
    address = [host.split("//")[1].split(":")[0] for host in web.hosts]
    assert (by_host[address[0]]["answered"], by_host[address[0]]["refused"]) == (2, 1)
    assert by_host[address[1]]["refused"] == 2 and address[2] not in by_host
    assert (by_host[address[3]]["hung"], by_host[address[3]]["answered"]) == (1, 0)


@pytest.mark.e2e
def test_simweb_counts_a_request_in_flight_in_the_phase_it_arrived_in():
    """Requests of an earlier phase still being served are not the next client's: at 20 ms
    and 2 s slow URLs, bench.check_bench counted the slow requests its capacity measure had
    left behind as linkhealth's, and showed 23 requests at once on a host limited to 16."""
    paths = [f"/a/{i}" for i in range(40)]
    hanging = [path for path in paths if hangs_on(path, 0.5)][:3]
    answered = [path for path in paths if not hangs_on(path, 0.5)][:2]
    with SimWeb(hosts=1, extra=["--profile", json.dumps({"0": {"hang_share": 0.5}})]) as web:
        address, port = web.hosts[0].split("//")[1].split(":")
        earlier = [socket.create_connection((address, int(port)), timeout=10) for _ in hanging]
        try:
            for connection, path in zip(earlier, hanging, strict=True):
                connection.sendall(f"GET {path} HTTP/1.1\r\nHost: {address}\r\n\r\n".encode())
            deadline = time.monotonic() + 10  # until the web has read all three
            while web.snapshot()["requests"] < len(hanging) and time.monotonic() < deadline:
                pass
            first = web.reset()
            for path in answered:  # one at a time, while the earlier three are still served
                connection = http.client.HTTPConnection(address, int(port), timeout=10)
                connection.request("GET", path)
                assert connection.getresponse().status == 200
                connection.close()
            second = web.snapshot()
        finally:
            for connection in earlier:
                connection.close()
    assert (first["requests"], first["max_concurrent_per_host"]) == (3, 3)
    assert (second["requests"], second["max_concurrent_per_host"]) == (2, 1)
    assert (second["carried_in_flight"], second["statuses"]) == (3, {"200": 2})


@pytest.mark.e2e
@pytest.mark.slow
def test_real_web_bench_checks_against_the_truth_and_the_floor(tmp_path):
    stdout, result = run_bench(tmp_path, "real_web_bench", "--urls", "300", "--hosts", "16",
                               "--timeout", "2", "--peers", "none", timeout=240)
    assert "wall / floor" in stdout and "outcome agreement" in stdout
    assert result["floor"]["seconds"] >= 2 * 3  # a hanging host's wave: timeout x attempts
    linkhealth, control = result["checkers"]["linkhealth"], result["checkers"]["control"]
    agreement = linkhealth["agreement"]
    assert set(agreement) == {"healthy", "rate-limited", "lockout", "hangs",
                              "hangs on some paths", "down"}
    assert sum(group["urls"] for group in agreement.values()) == result["site"]["unique_urls"]
    # the hanging hosts' URLs are timeouts, the dead host's connection errors
    for group in ("hangs", "down"):
        assert agreement[group]["urls"] > 0 and agreement[group]["wrong"] == {}, group
    assert agreement["healthy"]["agreed"] >= agreement["healthy"]["urls"] - 2
    assert linkhealth["wall_over_floor"] > 0 and 0 < linkhealth["healthy_done"] < linkhealth["wall_seconds"]
    # the control checks the healthy hosts alone
    assert control["agreement"]["healthy"]["urls"] == agreement["healthy"]["urls"]
    assert all(group["urls"] == 0 for name, group in control["agreement"].items() if name != "healthy")
    roles = {host["role"] for host in result["hosts"]}
    assert {"rate-limited", "lockout", "hangs", "down"} <= roles


def test_sim_internet_wayback_machine_answers_cdx_queries_and_plays_captures_back():
    """The simulated web's Wayback Machine: captures of the archived URLs only, in the CDX
    window asked, the closest one chosen by linkhealth's own parser; playback of each."""
    from urllib.parse import urlencode

    from bench.sim_world import Scenario, World
    from crawler.archive.wayback import cdx_query_url, closest, parse_cdx

    archived, other = "https://news.sim.example/gone?id=1", "https://news.sim.example/never"
    world = World(Scenario(seed=2, archived=[archived], dead={archived: "404", other: "404"},
                           dead_hosts={"web.archive.org": "nxdomain"}))
    assert world.host_fate("web.archive.org") is None  # always up, whatever a scenario says
    answer = world.answer(cdx_query_url("https://web.archive.org/cdx/search/cdx", archived,
                                        "2021-03-05", 365 * 86400), {})
    captures = parse_cdx(answer.body)
    assert answer.status == 200 and 3 <= len(captures) <= 13
    assert all("20200305" <= stamp <= "20220305235959" and url == archived for stamp, url in captures)
    stamp, _ = closest(captures, "2021-03-05")
    assert world.answer(cdx_query_url("https://web.archive.org/cdx/search/cdx", other,
                                      "2021-03-05", 365 * 86400), {}).body == b"[]\n"
    text = world.answer("https://web.archive.org/cdx/search/cdx?" + urlencode(
        {"url": archived, "from": "2021", "to": "2021", "fl": "timestamp,statuscode"}), {}).body
    assert text and all(line.startswith("2021") and line.endswith(" 200")
                        for line in text.decode().splitlines())
    played = world.answer(f"https://web.archive.org/web/{stamp}/{archived}", {})
    assert played.status == 200 and played.kind == "wayback: capture" and b"<title>" in played.body
    nearby = world.answer(f"https://web.archive.org/web/2021/{archived}", {})
    assert nearby.status == 302 and dict(nearby.headers)["Location"].endswith(f"/{archived}")
    assert world.answer(archived, {}).status == 404


def test_sim_internet_serves_the_site_and_redirects_some_urls_to_home_or_login(tmp_path):
    from bench.sim_scenario import Shares, choose
    from bench.sim_world import Base, Scenario, World

    site = tmp_path / "site"
    (site / "assets" / "archive").mkdir(parents=True)
    (site / "assets" / "archive" / "copy.png").write_bytes(b"\x89PNG the copy")
    (site / "_news").mkdir()
    (site / "_news" / "a.md").write_text("---\ntitle: A\n---\n")
    base = Scenario(seed=4, base=Base(not_found=0, redirects=0, dns_fail_hosts=0),
                    served={"https://me.sim.example/blog/": str(site)})
    world = World(base)
    copy = world.answer("https://me.sim.example/blog/assets/archive/copy.png", {})
    assert (copy.status, copy.body, dict(copy.headers)["Content-Type"]) == (200, b"\x89PNG the copy", "image/png")
    assert world.answer("https://me.sim.example/blog/_news/a.md", {}).kind == "ok"  # not published

    urls = [f"https://h{i % 3}.sim.example/p/{i}" for i in range(200)]
    urls += [f"https://me.sim.example/blog/assets/{i}.png" for i in range(100)]
    chosen = choose(urls, base, Shares(moved=0.2, soft_moved=0.1, dead=0.1, archived=0.5)).scenario
    world = World(chosen)
    soft = [url for url in chosen.moved if world.kind_of(url) == "moved to home or login (scenario)"]
    assert len(soft) == 30 and len(chosen.moved) == 90
    targets = {chosen.moved[url][-1][1].split("/", 3)[3].partition("?")[0] for url in soft}
    assert targets == {"", "login"}
    assert all(chain[-1][1].startswith("https://me.sim.example/blog/moved/")
               for url, chain in chosen.moved.items() if url.startswith("https://me.") and url not in soft)
    gone = len(chosen.dead) + len(soft)
    assert len(chosen.archived) == round(0.5 * gone) and set(chosen.archived) <= set(chosen.dead) | set(soft)


@pytest.mark.e2e
def test_fix_real_site_bench_fixes_moves_and_deaths_and_leaves_nothing_for_a_second_fix(tmp_path):
    """bench.fix_real_site on a tiny site and a web whose changes are given: moved links
    followed, a dead page replaced by its capture, a dead image by the site's own copy, a dead
    AMP field removed; redirects to a home or login page not followed; the patch applies,
    and a second fix after a fourth crawl has nothing left. The site given is only read."""
    from tests.crawl import write_site

    moved, home, login = ("https://news.sim.example/story", "https://news.sim.example/gone-home",
                          "https://news.sim.example/gone-login")
    captured, lost, image, amp = ("https://news.sim.example/captured", "https://news.sim.example/lost",
                                  "https://cdn.sim.example/pic.png", "https://amp.sim.example/story")
    site = write_site(tmp_path / "site", {
        "_news/2021-03-05-a.md": {"title": "A", "publishedDateTime": "2021-03-05T10:00:00Z",
                                  "webUrl": moved, "ampWebUrl": amp, "images": [{"url": image}],
                                  "related": [{"webUrl": home}, {"webUrl": login}]},
        "_news/2022-07-01-b.md": "---\n" + yaml.safe_dump(
            {"title": "B", "publishedDateTime": "2022-07-01T10:00:00Z",
             "related": [{"webUrl": moved}, {"webUrl": captured}, {"webUrl": lost}]}, sort_keys=False)
            + f'---\n<p>See <a href="{moved}">the story</a> ({moved}).</p>\n\n[Home]({home})\n'},
        config={"title": "Tiny", "url": "https://me.sim.example", "baseurl": "/blog"})
    before = _tree_digest(site)
    web = tmp_path / "web.json"
    web.write_text(json.dumps({
        "seed": 3, "base": {"not_found": 0, "redirects": 0, "dns_fail_hosts": 0},
        "moved": {moved: ["301 https://news.sim.example/hop", "308 https://news.sim.example/new"],
                  home: ["301 https://news.sim.example/"],
                  login: ["308 https://news.sim.example/login?next=%2Fgone-login"]},
        "dead": {captured: "404", lost: "410", image: "404", amp: "404"},
        "archived": [captured]}), encoding="utf-8")
    stdout, result = run_bench(tmp_path, "fix_real_site", "--site", str(site), "--scenario", str(web),
                               "--body", "--latency-ms", "0", "-s", "LINKHEALTH_RETRY_BACKOFF_BASE=0.05",
                               timeout=300)
    assert result["failures"] == [] and "all checks passed" in stdout
    auto = result["modes"]["auto"]
    assert {why: auto[why] for why in ("moved", "wayback", "local", "removed")} == \
        {"moved": 3, "wayback": 1, "local": 1, "removed": 1}  # the moved URL: twice in front matter, once linked
    assert (auto["files"], auto["new_files"]) == (2, 1)
    assert auto["not_fixed"] == {"no Wayback capture": 4}  # the lost page, home (twice) and login
    assert result["modes"]["none"]["references"] == 3
    kinds = result["auto_by_web_kind"]
    assert kinds["moved to home or login (scenario)"] == {"not fixed: no Wayback capture": 3}
    assert result["written_as_home_or_login"] == 0
    assert result["git_apply"] == {"check": "ok", "applied": True}
    assert result["readback"]["files_checked"] == 2 and not result["readback"]["files_with_problems"]
    after = result["after"]
    assert after["fixed_references"] == after["fixed_references_read_as_written"] == 5
    assert after["fixed_outcomes"] == {"ok": 5} and after["fixed_with_permanent_redirect"] == 0
    assert after["second_fix"]["references"] == 0 and after["second_command_patch_bytes"] == 0
    assert _tree_digest(site) == before


def test_fix_readback_accepts_the_changes_named_and_nothing_else(tmp_path):
    """bench.fix_readback, the bench's own check of a patched file: the changed field and
    body link pass; any other difference, in the front matter or the body, is named."""
    from bench.fix_readback import file_problems
    from crawler.fix.plan import Change

    old = ("---\ntitle: A\nwebUrl: https://a.sim.example/old\nimages:\n- url: https://c.sim.example/x.png\n"
           "---\n<p><a href=\"https://b.sim.example/gone\">gone</a> https://b.sim.example/gone</p>\n"
           "<p><a href=\"https://b.sim.example/kept\">kept</a></p>\n")
    changes = [Change("_news/a.md", "webUrl", "https://a.sim.example/old", "https://a.sim.example/new", "moved"),
               Change("_news/a.md", "body:line 7", "https://b.sim.example/gone",
                      "https://web.archive.org/web/2021/https://b.sim.example/gone", "wayback")]
    new = old.replace("/old", "/new").replace('href="https://b.sim.example/gone"',
                                              'href="https://web.archive.org/web/2021/https://b.sim.example/gone"')

    def problems(text: str, body_links: bool = True) -> list[str]:
        return file_problems(tmp_path / "scratch", "_news/a.md", old.encode(), text.encode(), changes,
                             body_links)

    assert problems(new) == []
    assert problems(new.replace("title: A", "title: B")) == ["title: 'A' became 'B'"]
    other_line = problems(new.replace("/kept", "/elsewhere"))
    assert "body lines changed that no change names: [8]" in other_line
    assert "the references read back differ from the old ones with the changes made" in other_line
    assert problems(old.replace("/old", "/new")) == \
        ["the references read back differ from the old ones with the changes made"]
