"""The shared frontier of a distributed run, in Redis.

Keys of one run live under one namespace, ``NS = PREFIX:DBID:run:RUN_ID`` (DBID: a hash
of the database path and machine), so a nightly run never meets yesterday's keys:

    PREFIX:active     set   namespaces with work (workers look here)
    NS:meta           hash  run id, database, seeding_done, counters of the coordinator
    NS:df             set   fingerprints seen (scrapy-redis RFPDupeFilter, our key)
    NS:hosts          set   hosts with queued or taken requests
    NS:q:HOST         list  queued requests of HOST (signed JSON frames, crawler.distributed.wire)
    NS:p:HOST         list  requests of HOST taken by its owner, not done yet
    NS:owner          hash  HOST -> worker id
    NS:lease          zset  HOST -> lease expiry (Redis server time, ms)
    NS:done           hash  URL key -> worker id (first result wins: HSETNX)
    NS:results        hash  URL key -> signed frame of the CheckItem (zstd inside)
    NS:rkeys          list  URL keys of results, in arrival order (the ingest queue)

Nothing read from Redis is trusted: frames are verified and validated (``wire``), names of
namespaces and hosts are checked before use, and bytes that are not UTF-8 are carried as
surrogate escapes rather than failing a decode.

Politeness: a host belongs to one worker at a time (its lease), and that worker keeps at
most CONCURRENT_REQUESTS_PER_DOMAIN of the host's requests in flight. A worker that
dies stops renewing; once the lease expires any worker claims the host, and the taken
requests of the dead owner go back to the queue first (the reaper is the claim).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import socket
import time
from typing import Any, cast
from urllib.parse import urlsplit

import redis
from scrapy_redis.dupefilter import RFPDupeFilter

from crawler.defaults import DEFAULTS

logger = logging.getLogger(__name__)

REDIS_ERRORS = (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError)


def setting(settings: Any, name: str, kind: str = "get") -> Any:
    """A Redis setting of linkhealth, its declared default when the settings lack it (settings
    built without the project's, as in a component test)."""
    value = settings.get(name)
    if value is None:
        value = DEFAULTS[name]
    if kind == "float":
        return float(value)
    return value


def connect(url: str) -> redis.Redis:
    # surrogateescape: a key or host name that is not UTF-8 (anyone can write one) goes back
    # to Redis as the same bytes instead of failing to encode.
    return redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5,
                                health_check_interval=30, encoding_errors="surrogateescape")


def text(value: bytes | str) -> str:
    assert isinstance(value, bytes)  # typed bytes | str by redis-py; connect() never decodes
    return value.decode("utf-8", "surrogateescape")


def describe_url(url: str) -> str:
    """The Redis URL without its password, for logs."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}{f':{parts.port}' if parts.port else ''}{parts.path}"


class RedisOutage:
    """How long Redis has been unreachable, for the coordinator and the workers alike.

    ``failed`` logs one warning line every ``WARN_EVERY`` seconds (not one per poll) and
    returns how long Redis has been down once that reaches ``wait``: time to stop.
    ``ok`` says when Redis answers again.
    """

    WARN_EVERY = 5.0

    def __init__(self, redis_url: str, wait: float):
        self.where = describe_url(redis_url)
        self.wait = wait
        self.since: float | None = None
        self.last_warned = -1e9

    def ok(self) -> None:
        if self.since is not None:
            logger.info("Redis at %s answers again", self.where)
            self.since, self.last_warned = None, -1e9

    def failed(self, exc: Exception) -> float | None:
        now = time.monotonic()
        if self.since is None:
            self.since = now
        waited = now - self.since
        if waited >= self.wait:
            return waited
        if now - self.last_warned >= self.WARN_EVERY:
            self.last_warned = now
            logger.warning("Redis at %s unreachable (%s); waiting and retrying for %.0fs more",
                           self.where, exc, self.wait - waited)
        return None


class Rejections:
    """Entries read from Redis that are not this run's (``wire.WireError``): each is counted
    (``linkhealth/distributed/rejected_<what>``) and logged in one line, the first
    ``LOG_AT_MOST`` of them; then skipped, and the run goes on."""

    LOG_AT_MOST = 100

    def __init__(self, stats: Any, what: str):
        self.stats = stats
        self.what = what
        self.count = 0

    def __call__(self, where: str, exc: Exception) -> None:
        self.count += 1
        self.stats.inc_value(f"linkhealth/distributed/rejected_{self.what}s")
        if self.count <= self.LOG_AT_MOST:
            logger.error("Rejected a %s read from Redis (%s): %s; skipped, the run goes on",
                         self.what, where, exc)
        if self.count == self.LOG_AT_MOST:
            logger.error("%d %ss rejected: further ones are only counted "
                         "(linkhealth/distributed/rejected_%ss)", self.count, self.what, self.what)


def db_id(db_path: str) -> str:
    ident = f"{socket.gethostname()}:{os.path.realpath(db_path)}"
    return hashlib.sha1(ident.encode()).hexdigest()[:10]


def namespace(prefix: str, db_path: str, run_id: int) -> str:
    return f"{prefix}:{db_id(db_path)}:run:{run_id}"


def is_namespace(prefix: str, ns: str) -> bool:
    """A namespace as ``namespace()`` makes them (``PREFIX:active`` may hold anything)."""
    return re.fullmatch(rf"{re.escape(prefix)}:[0-9a-f]{{10}}:run:[0-9]+", ns) is not None


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def fingerprint(key: str) -> str:
    return hashlib.sha1(key.encode("utf-8", "surrogateescape")).hexdigest()


# -- scrapy-redis classes, keyed our way -------------------------------------------


class KeyDupeFilter(RFPDupeFilter):
    """scrapy-redis's Redis set of fingerprints, with our URL key as the fingerprint.

    Scrapy's (and scrapy-redis's) fingerprint canonicalises the URL (sorts the query...),
    which would merge distinct URLs; the spider's key is the safe normalisation."""

    def request_fingerprint(self, request: Any) -> str:
        return fingerprint(request.meta.get("linkhealth_key") or request.url)


# -- Lua: every move of work is one atomic script ------------------------------------

_NOW = "local t = redis.call('TIME'); local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"

# KEYS: df, hosts, PREFIX:active; ARGV: ns, then (fingerprint, host, payload) triples.
SEED = """
local added = 0
for i = 2, #ARGV, 3 do
  if redis.call('SADD', KEYS[1], ARGV[i]) == 1 then
    redis.call('LPUSH', ARGV[1] .. ':q:' .. ARGV[i + 1], ARGV[i + 2])
    redis.call('SADD', KEYS[2], ARGV[i + 1])
    added = added + 1
  end
end
redis.call('SADD', KEYS[3], ARGV[1])
return added
"""

# KEYS: hosts, owner, lease; ARGV: ns, worker, lease_ms, max_hosts.
# Claims hosts that nobody holds or whose lease expired; a dead owner's taken requests
# go back to the queue (the reaper). Returns {host, previous owner or ''} pairs.
CLAIM = _NOW + """
local claimed = {}
local n = 0
for _, h in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if n >= tonumber(ARGV[4]) then break end
  local exp = redis.call('ZSCORE', KEYS[3], h)
  if (not exp) or tonumber(exp) < now then
    local q = ARGV[1] .. ':q:' .. h
    local p = ARGV[1] .. ':p:' .. h
    local prev = redis.call('HGET', KEYS[2], h) or ''
    local back = 0
    while redis.call('LMOVE', p, q, 'LEFT', 'RIGHT') do back = back + 1 end
    if redis.call('LLEN', q) > 0 then
      redis.call('HSET', KEYS[2], h, ARGV[2])
      redis.call('ZADD', KEYS[3], now + tonumber(ARGV[3]), h)
      table.insert(claimed, h); table.insert(claimed, prev); table.insert(claimed, back)
      n = n + 1
    else
      redis.call('SREM', KEYS[1], h); redis.call('HDEL', KEYS[2], h); redis.call('ZREM', KEYS[3], h)
    end
  end
end
return claimed
"""

# KEYS: owner; ARGV: ns, host, worker, count. Takes up to count queued requests of an owned host.
TAKE = """
if redis.call('HGET', KEYS[1], ARGV[2]) ~= ARGV[3] then return false end
local out = {}
for i = 1, tonumber(ARGV[4]) do
  local v = redis.call('LMOVE', ARGV[1] .. ':q:' .. ARGV[2], ARGV[1] .. ':p:' .. ARGV[2], 'RIGHT', 'LEFT')
  if not v then break end
  table.insert(out, v)
end
return out
"""

# KEYS: owner, lease; ARGV: worker, lease_ms, hosts... Renews the leases still ours;
# returns the hosts lost (taken over after our lease expired).
RENEW = _NOW + """
local lost = {}
for i = 3, #ARGV do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[1] then
    redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[i])
  else
    table.insert(lost, ARGV[i])
  end
end
return lost
"""

# KEYS: owner, lease, hosts, done, results, rkeys
# ARGV: ns, host, worker, url key, taken payload, result payload, take count.
# Records the result (first one wins), releases the request, takes the next ones, and
# gives the host up when it has nothing left. Returns {recorded, released, next...}.
DONE = """
local p = ARGV[1] .. ':p:' .. ARGV[2]
local q = ARGV[1] .. ':q:' .. ARGV[2]
redis.call('LREM', p, 1, ARGV[5])
local recorded = 0
if redis.call('HSETNX', KEYS[4], ARGV[4], ARGV[3]) == 1 then
  redis.call('HSET', KEYS[5], ARGV[4], ARGV[6])
  redis.call('RPUSH', KEYS[6], ARGV[4])
  recorded = 1
end
local out = {recorded, 0}
if redis.call('HGET', KEYS[1], ARGV[2]) == ARGV[3] then
  for i = 1, tonumber(ARGV[7]) do
    local v = redis.call('LMOVE', q, p, 'RIGHT', 'LEFT')
    if not v then break end
    table.insert(out, v)
  end
  if #out == 2 and redis.call('LLEN', p) == 0 and redis.call('LLEN', q) == 0 then
    redis.call('SREM', KEYS[3], ARGV[2]); redis.call('HDEL', KEYS[1], ARGV[2]); redis.call('ZREM', KEYS[2], ARGV[2])
    out[2] = 1
  end
end
return out
"""


# KEYS: owner, lease, hosts; ARGV: ns, host, worker. Gives up a host that has nothing left.
RELEASE = """
if redis.call('HGET', KEYS[1], ARGV[2]) ~= ARGV[3] then return 1 end
if redis.call('LLEN', ARGV[1] .. ':q:' .. ARGV[2]) > 0
   or redis.call('LLEN', ARGV[1] .. ':p:' .. ARGV[2]) > 0 then return 0 end
redis.call('SREM', KEYS[3], ARGV[2]); redis.call('HDEL', KEYS[1], ARGV[2]); redis.call('ZREM', KEYS[2], ARGV[2])
return 1
"""

# KEYS: owner, lease; ARGV: worker, hosts... A worker that stops cleanly lets its leases
# expire now, so another worker claims its hosts (and requeues what it had taken) at once.
EXPIRE = """
for i = 2, #ARGV do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[1] then redis.call('ZADD', KEYS[2], 0, ARGV[i]) end
end
return 1
"""


# KEYS: results, done, df; ARGV: (key, SHA-1 of the value rejected, fingerprint) triples.
FORGET_REJECTED = """
for i = 1, #ARGV, 3 do
  local v = redis.call('HGET', KEYS[1], ARGV[i])
  if v and redis.sha1hex(v) == ARGV[i + 1] then redis.call('HDEL', KEYS[1], ARGV[i]) end
  if redis.call('SISMEMBER', KEYS[3], ARGV[i + 2]) == 0 then redis.call('HDEL', KEYS[2], ARGV[i]) end
end
return 1
"""


class Frontier:
    """The Redis side of one run (namespace ``ns``)."""

    def __init__(self, server: redis.Redis, prefix: str, ns: str):
        self.server = server
        self.prefix = prefix
        self.ns = ns
        self.k = {name: f"{ns}:{name}" for name in
                  ("meta", "df", "hosts", "owner", "lease", "done", "results", "rkeys")}
        self.active = f"{prefix}:active"
        self._seed = server.register_script(SEED)
        self._claim = server.register_script(CLAIM)
        self._take = server.register_script(TAKE)
        self._renew = server.register_script(RENEW)
        self._done = server.register_script(DONE)
        self._release = server.register_script(RELEASE)
        self._expire = server.register_script(EXPIRE)
        self._forget = server.register_script(FORGET_REJECTED)

    # coordinator side
    def seed(self, triples: list[tuple[str, str, bytes]]) -> int:
        args: list[Any] = [self.ns]
        for fingerprint, host, payload in triples:
            args += [fingerprint, host, payload]
        return int(self._seed(keys=[self.k["df"], self.k["hosts"], self.active], args=args))

    def progress(self) -> tuple[int, int, int]:
        """(seeded, done, results waiting to be ingested)."""
        pipe = self.server.pipeline(transaction=False)
        pipe.scard(self.k["df"])
        pipe.hlen(self.k["done"])
        pipe.llen(self.k["rkeys"])
        seeded, done, waiting = pipe.execute()
        return int(seeded), int(done), int(waiting)

    def exists(self) -> bool:
        return bool(self.server.exists(self.k["meta"]))

    def read_results(self, count: int) -> list[tuple[str, bytes | None]]:
        keys = [text(k) for k in self.server.lrange(self.k["rkeys"], 0, count - 1)]
        if not keys:
            return []
        results = cast(list[bytes | None], self.server.hmget(self.k["results"], keys))  # not decoded
        return list(zip(keys, results, strict=True))

    def forget_results(self, keys: list[str], rejected: dict[str, bytes] | None = None) -> None:
        """After the batch holding them was committed to SQLite. ``rejected`` entries (key ->
        the value refused) go only if no worker's result replaced them meanwhile, and a key
        that was never seeded also leaves ``done``: a forged entry must not count as done."""
        rejected = rejected or {}
        pipe = self.server.pipeline(transaction=True)
        pipe.ltrim(self.k["rkeys"], len(keys), -1)
        ingested = [k for k in keys if k not in rejected]
        if ingested:
            pipe.hdel(self.k["results"], *ingested)
        if rejected:
            args: list[Any] = []
            for key, value in rejected.items():
                args += [key, hashlib.sha1(value).hexdigest(), fingerprint(key)]
            self._forget(keys=[self.k["results"], self.k["done"], self.k["df"]], args=args,
                         client=pipe)
        pipe.execute()

    def drop(self) -> None:
        """The run is over: delete its keys."""
        self.server.srem(self.active, self.ns)
        names = list(self.server.scan_iter(match=f"{self.ns}:*", count=1000))
        for i in range(0, len(names), 500):
            self.server.delete(*names[i:i + 500])

    # worker side
    def claim(self, worker: str, lease_ms: int, max_hosts: int) -> list[tuple[str, str, int]]:
        out = self._claim(keys=[self.k["hosts"], self.k["owner"], self.k["lease"]],
                          args=[self.ns, worker, lease_ms, max_hosts])
        return [(text(out[i]), text(out[i + 1]), int(out[i + 2])) for i in range(0, len(out), 3)]

    def take(self, host: str, worker: str, count: int) -> list[bytes] | None:
        out = self._take(keys=[self.k["owner"]], args=[self.ns, host, worker, count])
        return None if out is None else list(out)

    def renew(self, worker: str, lease_ms: int, hosts: list[str]) -> list[str]:
        if not hosts:
            return []
        return [text(h) for h in self._renew(keys=[self.k["owner"], self.k["lease"]],
                                              args=[worker, lease_ms, *hosts])]

    def done(self, host: str, worker: str, key: str, taken: bytes, result: bytes,
             take: int) -> tuple[bool, bool, list[bytes]]:
        out = self._done(keys=[self.k["owner"], self.k["lease"], self.k["hosts"], self.k["done"],
                               self.k["results"], self.k["rkeys"]],
                         args=[self.ns, host, worker, key, taken, result, take])
        return bool(out[0]), bool(out[1]), list(out[2:])

    def discard(self, host: str, taken: bytes) -> None:
        """A taken request that is not one of ours (``wire.WireError``) leaves the host."""
        self.server.lrem(f"{self.ns}:p:{host}", 1, taken)  # type: ignore[arg-type]  # bytes work

    def release(self, host: str, worker: str) -> bool:
        """True when the host is no longer ours (given up, or taken over)."""
        return bool(self._release(keys=[self.k["owner"], self.k["lease"], self.k["hosts"]],
                                  args=[self.ns, host, worker]))

    def expire(self, worker: str, hosts: list[str]) -> None:
        if hosts:
            self._expire(keys=[self.k["owner"], self.k["lease"]], args=[worker, *hosts])
