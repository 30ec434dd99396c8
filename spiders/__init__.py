"""The Scrapy project's own spiders (``SPIDER_MODULES`` beside ``crawler.spiders``, for the
``scrapy`` command run from the repository root; ``scrapy genspider`` writes here).

linkhealth's spiders, ``links`` and ``links-worker``, live in ``crawler/spiders/`` so that
they are installed with the package; the installed ``linkhealth`` command loads only those.
May import: anything in ``crawler``.
"""
