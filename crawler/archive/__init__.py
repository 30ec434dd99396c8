"""The archive: what of an answer is captured (``capture``), the snapshot policy
(``archiver``), getting archived content out as WARC files and pruning it (``archive_io``),
and the Wayback Machine's CDX lookups (``wayback``).

May import: ``crawler.store``, ``crawler.core``.
"""
