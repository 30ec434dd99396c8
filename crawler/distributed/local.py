"""``make crawl WORKERS=N``: a local Redis, N worker processes and the coordinator, on one machine.

    python -m crawler.distributed.local --workers N --source DIR [--db PATH] [-s NAME=VALUE ...] [-a NAME=VALUE ...]

(``linkhealth crawl DIR --workers N`` runs this too.) Starts ``redis-server`` without
persistence, reachable by this user only: no TCP port, a Unix socket in a private directory
(mode 0700), and a random password in its configuration file (mode 0600), never on a command
line. Then N ``linkhealth worker`` processes (``scrapy crawl links-worker``) and
``linkhealth crawl`` (``scrapy crawl links``) as the coordinator; they get the Redis URL (with the password)
and a random signing key for the run (``LINKHEALTH_REDIS_SECRET``) in their environment,
which other users cannot read. Workers stop by themselves one second after the run is over
(``-a idle_exit=1``); any still running 20 s after the coordinator get SIGTERM (a bounded
wait, then SIGKILL). Then Redis stops and its directory is removed. The exit status is the
coordinator's. Relative paths are taken from the current directory, where they all run.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import redis

COORDINATOR_SCHEDULER = "crawler.distributed.coordinator.CoordinatorScheduler"


class LocalRedis:
    """A private redis-server: a Unix socket in a 0700 directory and a random password."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="linkhealth-redis-")  # mode 0700
        self.socket = os.path.join(self.dir, "redis.sock")
        self.password = secrets.token_urlsafe(32)
        self.url = f"unix://:{self.password}@{self.socket}?db=0"
        config = os.path.join(self.dir, "redis.conf")
        fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(f'port 0\nunixsocket "{self.socket}"\nunixsocketperm 700\n'
                      f'requirepass "{self.password}"\nsave ""\nappendonly no\n'
                      f'dir "{self.dir}"\nloglevel warning\n')
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.process = subprocess.Popen([binary, config], stdout=subprocess.DEVNULL)
        client = self.client()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                shutil.rmtree(self.dir, ignore_errors=True)
                raise RuntimeError("redis-server exited at start")
            try:
                if client.ping():
                    return
            except (redis.ConnectionError, FileNotFoundError):
                time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"redis-server did not answer on {self.socket}")

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=5)

    def environment(self) -> dict[str, str]:
        """What the run's processes get, beside the parent's environment."""
        return {"LINKHEALTH_REDIS_URL": self.url,
                "LINKHEALTH_REDIS_SECRET": secrets.token_urlsafe(32)}

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


def linkhealth(*args: str) -> list[str]:
    """The installed command (``crawler.cli.linkhealth``); ``-P``: whatever the current
    directory holds is not imported."""
    return [sys.executable, "-P", "-m", "crawler.cli.linkhealth", *args]


def run(workers: int, source: str, db: str, settings: list[str], spider_args: list[str],
        worker_settings: list[str] | None = None, redis_server: LocalRedis | None = None) -> int:
    own_redis = redis_server is None
    server = redis_server or LocalRedis()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **server.environment()}
    common = list(settings)
    processes = []
    try:
        for _ in range(workers):
            # idle_exit: a worker stops once no run has work (SIGTERM is only the fallback:
            # Scrapy 2.19's graceful stop logs "Set changed size during iteration").
            command = linkhealth("worker", "-a", "idle_exit=1")
            for value in [*common, *(worker_settings or [])]:
                command += ["-s", value]
            processes.append(subprocess.Popen(command, env=env))
        command = linkhealth("crawl", source, "-s", f"LINKHEALTH_DB={db}",
                         "-s", f"SCHEDULER={COORDINATOR_SCHEDULER}")
        for value in common:
            command += ["-s", value]
        for value in spider_args:
            command += ["-a", value]
        coordinator = subprocess.Popen(command, env=env)
        status = coordinator.wait()
        deadline = time.monotonic() + 20
        for process in processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
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
