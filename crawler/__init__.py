"""linkhealth: check every URL of a front-matter site, record the history in SQLite.

A URL's way through the packages: ``site`` reads the documents and their references; the
``links`` spider (``crawler/spiders/``) asks for each URL once; ``policy`` decides how and when it
is requested and ``fetch`` gets the bytes; ``classify`` judges the answer; ``run`` records
it through ``store`` and ``archive``; ``report`` and ``browse`` show what was recorded;
``fix`` turns it into edits of the site. ``commands``, ``cli`` and ``jobs`` are the ways in
(``cli.linkhealth`` is the installed ``linkhealth`` command), and ``distributed`` spreads one
crawl over many processes. The repository's top-level ``spiders`` package is the Scrapy
project's own spiders folder, above everything and not installed.

The layers, each importing only those below it (``pyproject.toml`` declares them and
``tests/test_layers.py`` enforces them; ``|`` separates packages that do not import each
other, ``:`` packages of one layer that may):

    spiders
    crawler.spiders
    crawler.commands : crawler.cli : crawler.jobs : crawler.distributed
    crawler.policy | crawler.fix
    crawler.run | crawler.report | crawler.browse
    crawler.archive | crawler.classify | crawler.fetch | crawler.site
    crawler.store
    crawler.core
    crawler.defaults

``crawler.settings`` (Scrapy's settings module) names components by their dotted paths and
imports only ``crawler.defaults`` and ``crawler.core.reactor``.
"""
