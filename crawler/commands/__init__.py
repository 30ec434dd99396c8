"""The project's Scrapy commands, each registered under its module's name: ``scrapy crawl``
(with the one-crawl-per-database lock), ``report``, ``snapshot``, ``prune``, ``ingest``.
Every module here holds one command class, and nothing else may hold one (Scrapy would
register it): shared command code lives in ``crawler.cli``.

May import: anything below it (``crawler.report``, ``crawler.archive``, ``crawler.store``,
``crawler.core``...), ``crawler.cli`` and ``crawler.distributed``.
"""
