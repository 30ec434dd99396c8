"""What Scrapy's command line needs beside ``crawler.commands``: the base of the commands that
read the database (``database_command``), and the commands registered as entry points
because their names are not module names (``export_warc``: ``scrapy export-warc``).

Scrapy registers every command class it finds in ``crawler.commands`` under its module's
name, so a shared base class or an entry-point command there would become a command of its
own.

May import: anything below ``crawler.commands``.
"""
