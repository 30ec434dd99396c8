"""Fixtures shared by several test modules. Helpers (servers, the crawl runner) stay in helper
modules, imported normally; a fixture lives here or in the one test module that uses it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.redis_server import REDIS_SERVER, RedisServer
from tests.webserver import Web


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
