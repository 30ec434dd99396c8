"""What Scrapy's command line needs beside ``crawler.commands``: the base of the commands that
read the database (``database_command``), the commands registered as entry points
because their names are not module names (``export_warc``: ``scrapy export-warc``), and
the installed ``linkhealth`` command (``linkhealth``), which runs those commands, the jobs
and Datasette from any directory.

Scrapy registers every command class it finds in ``crawler.commands`` under its module's
name, so a shared base class or an entry-point command there would become a command of its
own.

May import: anything below ``crawler.commands``; ``linkhealth`` loads the commands and jobs it
runs by name, when one is asked for.
"""
