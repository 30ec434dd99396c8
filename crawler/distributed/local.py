"""``make crawl WORKERS=N``: a local Redis, N worker processes and the coordinator, on one machine.

    python -m crawler.distributed.local --workers N --source DIR [--db PATH] [-s NAME=VALUE ...] [-a NAME=VALUE ...]

Starts ``redis-server`` on a free loopback port without persistence, then N
``scrapy crawl links-worker`` processes and ``scrapy crawl links`` as the coordinator.
Workers stop by themselves one second after the run is over (``-a idle_exit=1``); any
still running 20 s after the coordinator get SIGTERM (a bounded wait, then SIGKILL). Then
Redis stops. The exit status is the coordinator's.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

REPO = Path(__file__).resolve().parents[2]
COORDINATOR_SCHEDULER = "crawler.distributed.coordinator.CoordinatorScheduler"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalRedis:
    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.dir = tempfile.mkdtemp(prefix="linkhealth-redis-")
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir, "--loglevel", "warning"],
            stdout=subprocess.DEVNULL)
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("redis-server exited at start")
            try:
                if client.ping():
                    return
            except redis.ConnectionError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"redis-server did not answer on port {self.port}")

    def stop(self) -> None:
        stop(self.process)
        shutil.rmtree(self.dir, ignore_errors=True)


def stop(process: subprocess.Popen, timeout: float = 15) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)


def scrapy(*args: str) -> list[str]:
    return [sys.executable, "-m", "scrapy", "crawl", *args]


def run(workers: int, source: str, db: str, settings: list[str], spider_args: list[str],
        worker_settings: list[str] | None = None, redis_server: LocalRedis | None = None) -> int:
    own_redis = redis_server is None
    server = redis_server or LocalRedis()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    common = [f"LINKHEALTH_REDIS_URL={server.url}", *settings]
    processes = []
    try:
        for i in range(workers):
            # idle_exit: a worker stops once no run has work (SIGTERM is only the fallback:
            # Scrapy 2.19's graceful stop logs "Set changed size during iteration").
            command = scrapy("links-worker", "-a", "idle_exit=1")
            for value in [*common, *(worker_settings or [])]:
                command += ["-s", value]
            processes.append(subprocess.Popen(command, cwd=REPO, env=env))
        command = scrapy("links", "-a", f"source={source}", "-s", f"LINKHEALTH_DB={db}",
                         "-s", f"SCHEDULER={COORDINATOR_SCHEDULER}")
        for value in common:
            command += ["-s", value]
        for value in spider_args:
            command += ["-a", value]
        coordinator = subprocess.Popen(command, cwd=REPO, env=env)
        status = coordinator.wait()
        deadline = time.monotonic() + 20
        for process in processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        return status
    finally:
        for process in processes:
            stop(process)
        if own_redis:
            server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, required=True)
    parser.add_argument("--source", required=True)
    parser.add_argument("--db", default="state/linkhealth.db")
    parser.add_argument("-s", dest="settings", action="append", default=[])
    parser.add_argument("-a", dest="args", action="append", default=[])
    options = parser.parse_args(argv)
    if options.workers < 1:
        parser.error("--workers must be at least 1")
    return run(options.workers, options.source, options.db, options.settings, options.args)


if __name__ == "__main__":
    sys.exit(main())
