"""Judging a check: the outcome of an answer or a failure, and the ``CheckItem`` that records
it. Pure functions of what Scrapy hands over; no I/O.

May import: ``crawler.core``.
"""
