"""Smoke test of bench/check_bench.py: 300+ URLs on 20 hosts, no peers, well under 40 s."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bench.check_bench import wide_address
from bench.simweb import REPO

CHECKER_KEYS = {"documents", "references", "unique_urls", "hosts", "checked", "ok_2xx", "other",
                "errors", "wall_seconds", "urls_per_second", "checked_per_second", "cpu_seconds",
                "peak_rss_mb", "web_requests", "web_max_concurrent_per_host", "web_cpu_seconds"}


def test_wide_addresses_stay_on_loopback_and_extend_the_generators_law():
    assert [wide_address(i) for i in (0, 252, 253, 299)] == [
        "127.0.0.2", "127.0.0.254", "127.0.1.2", "127.0.1.48"]


@pytest.mark.e2e
def test_check_bench_checks_every_url_with_linkhealth_and_the_reference(tmp_path):
    out = tmp_path / "result.json"
    process = subprocess.run(
        [sys.executable, "-m", "bench.check_bench", "--urls", "300", "--hosts", "20",
         "--peers", "none", "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert process.returncode == 0, process.stderr[-4000:]
    assert "URLs / second" in process.stdout and "speed ratio" in process.stdout
    result = json.loads(out.read_text())
    assert {"config", "site", "checkers", "skipped", "ratios"} <= set(result)
    site, checkers = result["site"], result["checkers"]
    assert site["unique_urls"] >= 300 and site["hosts_used"] == 20
    assert set(checkers) == {"linkhealth", "reference"}
    for name, figures in checkers.items():
        assert CHECKER_KEYS <= set(figures), name
        assert figures["exit_status"] == 0 and not figures["timed_out"], name
        assert figures["unique_urls"] == figures["checked"] == site["unique_urls"], name
        assert figures["ok_2xx"] + figures["other"] + figures["errors"] == figures["checked"]
        assert figures["urls_per_second"] > 0 and figures["cpu_seconds"] > 0, name
        assert figures["web_requests"] >= site["unique_urls"], name
        assert 1 <= figures["web_max_concurrent_per_host"] <= result["config"]["per_host"], name
    assert checkers["linkhealth"]["db_bytes"] > 0
    assert checkers["linkhealth"]["ok_2xx"] == checkers["reference"]["ok_2xx"]
    assert result["ratios"]["linkhealth/reference"]["speed"] > 0
