"""The shared vocabulary of every other package: what a check, a document and an outcome are
(``items``), the exceptions raised inside a crawl (``errors``), URLs as written and as keys
(``urls``), times and durations, safe text for terminals and files, and the one place that
names private Scrapy and Twisted internals (``compat``).

May import: the standard library and third-party packages only, never another package of
``crawler``. Everything else may import it.
"""
