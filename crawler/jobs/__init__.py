"""Whole jobs built of commands: the nightly run (crawl, then every report) and the offline
demo, with what it needs installed: a synthetic site (``synthetic_site``, which ``bench/``
uses too) and a loopback web that answers its URLs (``demo_web``).

May import: anything below it: ``crawler.commands``, ``crawler.report``, ``crawler.store``...
"""
