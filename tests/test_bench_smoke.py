"""Smoke test of the benchmark harness in bench/: a few hundred URLs, well under 30 s."""

from __future__ import annotations

import hashlib
import http.client
import json
import subprocess
import sys
from pathlib import Path

import yaml

from bench.simweb import REPO, SimWeb
from bench.synthetic_site import generate_site, host_urls

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
        assert moved.status == 301 and moved.getheader("Location").endswith(":%d/a/n1" % web.port)
        connection.close()
    assert web.stats["requests"] == 3 and web.stats["not_modified"] == 1


def run_bench(tmp_path: Path, module: str, *args: str, timeout: float = 180) -> tuple[str, dict]:
    """Run ``python -m bench.MODULE ARGS --out JSON``: its printed table and its JSON."""
    out = tmp_path / "result.json"
    process = subprocess.run([sys.executable, "-m", f"bench.{module}", *args, "--out", str(out)],
                             cwd=REPO, capture_output=True, text=True, timeout=timeout)
    assert process.returncode == 0, process.stderr[-4000:]
    return process.stdout, json.loads(out.read_text())


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
        "main (x.py:1);write_batch (/r/crawler/store.py:10);execute (/lib/python3.11/sqlite3/x.py:3) 6\n",
        "main (x.py:1);_runCallbacks (/v/site-packages/twisted/internet/defer.py:9) 3\n",
        "main (x.py:1);read_document (/r/crawler/sources.py:5);load (/v/site-packages/yaml/x.py:2) 1\n",
    ]
    text = summarise(parse(lines))
    assert text.startswith("10 samples")
    rows = {line[:48].strip(): line.split()[-2] for line in text.splitlines()
            if line[:48].strip() in ("SQLite (store, history)", "Twisted reactor and Deferreds",
                                     "reading the site (files, YAML)")}
    assert rows == {"SQLite (store, history)": "60%", "Twisted reactor and Deferreds": "30%",
                    "reading the site (files, YAML)": "10%"}


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


def test_fix_bench_edits_every_synthetic_article_without_a_refusal():
    process = subprocess.run([sys.executable, "-m", "bench.fix_bench", "--documents", "40"],
                             cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert process.returncode == 0, process.stderr
    figures = json.loads(process.stdout)
    assert figures["documents"] == 40 and figures["refused"] == {}
    assert figures["applied"] == figures["edits"] > 40 and figures["patch_bytes"] > 0


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
