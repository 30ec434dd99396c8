"""Scale-out: one crawl on many processes and machines, through a shared Redis frontier.

* ``frontier``    Redis keys of a run, the Lua scripts that move work atomically, the
                  scrapy-redis dupefilter subclass.
* ``coordinator`` the scheduler of ``scrapy crawl links`` when ``LINKHEALTH_REDIS_URL``
                  is set: seeds the frontier, ingests results into SQLite, waits.
* ``worker``      the scheduler and result pipeline of ``scrapy crawl links-worker``.
* ``wire``        what crosses Redis: requests and results as signed, validated JSON frames.
* ``local``       ``make crawl WORKERS=N``: a private redis-server, the workers, the coordinator.

See docs/scale-out.md.

May import: ``crawler.policy``, ``crawler.run``, ``crawler.store``, ``crawler.core``,
``crawler.defaults``.
"""
