"""The spiders of linkhealth, installed with the package: ``links`` (read a site, check every
URL it references once) and ``links-worker`` (check URLs taken from a distributed run's
frontier). Scrapy finds them through ``SPIDER_MODULES`` (``crawler/settings.py``); they are
named, never imported, by the commands that run them.

May import: anything below it: ``crawler.run``, ``crawler.site``, ``crawler.classify``,
``crawler.archive``, ``crawler.store``, ``crawler.core``...
"""
