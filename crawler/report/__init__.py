"""Reports of a run, read from the database: the data (``model``), Markdown, JSON and CSV
(``markdown``, ``json_report``, ``csv_report``), the self-contained HTML page (``html`` gives
the rows' data; its look is in ``templates/`` and ``static/``, rendered by ``templating``;
``charts`` works out the SVG charts), and the archived copies a page links to
(``snapshot_files``).

May import: ``crawler.archive``, ``crawler.store``, ``crawler.core``, ``crawler.defaults``.
"""
