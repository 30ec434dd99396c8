"""One crawl run as Scrapy sees it: the run context that the spider, the middlewares, the
pipeline and the coordinator share (``context``), the pipeline that stores every result in
batches (``store_pipeline``), and the run's extensions: progress, garbage-collector tuning,
stats, safe log lines.

May import: ``crawler.archive``, ``crawler.store``, ``crawler.core``, ``crawler.defaults``.
"""
