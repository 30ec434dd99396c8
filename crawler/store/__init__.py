"""The SQLite database: its schema as migrations (``schema``), batched writes and the run's
lifecycle (``database``), archived bodies as content-addressed blobs (``snapshots``), what
earlier runs left for this one (``history``), and the one-crawl-per-database lock (``lock``).

May import: ``crawler.core``.
"""
