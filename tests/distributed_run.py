"""Starting the processes of a distributed crawl (coordinator and workers) for the tests:
each is a real ``scrapy crawl`` subprocess.
"""

from __future__ import annotations

import os
import subprocess
import sys

from tests.crawl import REPO, TEST_SETTINGS

PER_HOST = 2
# No SCHEDULER: the links spider picks the coordinator's when LINKHEALTH_REDIS_URL is set.
DISTRIBUTED = {
    "LINKHEALTH_REDIS_LEASE": "2",
    "LINKHEALTH_REDIS_POLL": "0.05",
    "LINKHEALTH_REDIS_WAIT": "3",
    "CONCURRENT_REQUESTS_PER_DOMAIN": str(PER_HOST),
    # one host per worker at a time (CONCURRENT_REQUESTS / CONCURRENT_REQUESTS_PER_DOMAIN)
    "CONCURRENT_REQUESTS": str(PER_HOST),
}
# The run's signing key reaches every process through the environment, as in local mode.
ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "LINKHEALTH_REDIS_SECRET": "secret-of-the-test-runs"}


def spider_command(spider: str, settings: dict[str, str], args: dict[str, str]) -> list[str]:
    command = [sys.executable, "-m", "scrapy", "crawl", spider]
    for name, value in {**TEST_SETTINGS, **settings}.items():
        command += ["-s", f"{name}={value}"]
    for name, value in args.items():
        command += ["-a", f"{name}={value}"]
    return command


def start(spider: str, settings: dict[str, str], args: dict[str, str], log) -> subprocess.Popen:
    return subprocess.Popen(spider_command(spider, settings, args), cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=log, env=ENV)


def start_worker(redis_url: str, tmp_path, n: int, **extra: str) -> tuple[subprocess.Popen, object]:
    log = open(tmp_path / f"worker-{n}.log", "w")
    # A worker opens no database and takes no crawl lock: all share the default LINKHEALTH_DB.
    settings = {**DISTRIBUTED, "LINKHEALTH_REDIS_URL": redis_url, **extra}
    return start("links-worker", settings, {"idle_exit": "3"}, log), log


def kill_left_over(processes: list[subprocess.Popen]) -> None:
    """Whatever a failed test left running is killed (a passing test waited for each)."""
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()
