"""Whole jobs built of commands: the nightly run (crawl, then every report) and the offline
demo.

May import: anything below it: ``crawler.commands``, ``crawler.report``, ``crawler.store``...
"""
