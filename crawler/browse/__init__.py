"""Browsing the database in Datasette: its metadata and canned queries (``metadata.yml``) and
the plugin that serves archived snapshots without rendering them (``plugins/``).

May import: ``crawler.report``, ``crawler.store``, ``crawler.core``.
"""
