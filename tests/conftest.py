"""Fixtures shared by several test modules, and the test layers.

Layers (markers registered in pyproject.toml):

* quick (unmarked): runs inside the pytest process. ``pytest -m "not e2e"`` (``make
  test-quick``) runs these alone, in well under a minute.
* ``e2e``: starts a process: a real ``scrapy crawl`` (tests/crawl.py), a ``scrapy`` command,
  a bench script, ``make``, ``redis-server``... (``git`` excepted). tests/process_rule.py
  fails a test that starts one without the marker, so it cannot be forgotten.
* ``slow``: the e2e tests that take ten seconds or more each, their module's crawl included
  (Retry-After and pacing waits, benchmarks, worker processes); ``-m "not slow"`` leaves
  them out.

Helpers (servers, the crawl runner) stay in helper modules, imported normally; a fixture
lives here or in the one test module that uses it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.redis_server import REDIS_SERVER, RedisServer
from tests.webserver import Web

pytest_plugins = ("tests.process_rule", "pytester")


@pytest.fixture
def redis_server(tmp_path):
    """A real redis-server on a free loopback port, stopped after the test."""
    if not Path(REDIS_SERVER).is_file():
        pytest.fail("redis-server is not installed (apt-get install redis-server; .ci/run does)")
    with RedisServer(workdir=tmp_path) as server:
        yield server


@pytest.fixture
def two_hosts():
    """Two web servers on loopback addresses of their own (127.0.0.2 and 127.0.0.3), so that
    a crawl sees two hosts: one to misbehave, one to stay healthy."""
    with Web(host="127.0.0.2") as first, Web(host="127.0.0.3") as second:
        yield first, second
