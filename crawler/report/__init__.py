"""Reports of a run, read from the database: the data (``model``), Markdown, JSON and CSV
(``render``), the self-contained HTML page (``html``, ``charts``), and the archived copies a
page links to (``snapshot_files``).

May import: ``crawler.archive``, ``crawler.store``, ``crawler.core``, ``crawler.defaults``.
"""
