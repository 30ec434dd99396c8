"""``linkhealth``: the installed command, run from any directory.

    linkhealth crawl ../my-site
    linkhealth report -o state/report.md --fail-on broken
    linkhealth browse

Each subcommand is one of the project's Scrapy commands (``crawler.commands``,
``crawler.cli.export_warc``), parsed and run by its own code as ``scrapy NAME`` would, with
the settings of ``crawler.settings`` whatever the current directory holds: no ``scrapy.cfg``
is read, here or in a parent directory, and only the packaged spiders (``crawler.spiders``)
are loaded. ``nightly`` and ``demo`` are the jobs (``crawler.jobs``); ``browse`` is Datasette
with the metadata, the snapshot plugin coming through its entry point. Relative paths, the
database's default ``state/linkhealth.db`` among them, are taken from the current directory.
Usage errors exit with status 1, as every other error (2 means ``--fail-on`` matched).
"""

from __future__ import annotations

import argparse
import cProfile
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path

from scrapy.cmdline import ScrapyArgumentParser
from scrapy.commands import ScrapyCommand, ScrapyHelpFormatter
from scrapy.crawler import AsyncCrawlerProcess, CrawlerProcess
from scrapy.exceptions import UsageError
from scrapy.settings import Settings
from scrapy.utils.misc import load_object

from crawler.core.usage import ArgumentParser

PROG = "linkhealth"
SETTINGS_MODULE = "crawler.settings"
PACKAGED_SPIDERS = ["crawler.spiders"]
ASYNCIO_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
EXIT_OK, EXIT_ERROR = 0, 1


class Parser(ArgumentParser, ScrapyArgumentParser):
    """Scrapy's parser, but a usage error exits with status 1 (the documented "error"):
    argparse's 2 is what ``report --fail-on`` returns when it matched."""


def linkhealth_settings() -> Settings:
    """``crawler.settings``, as the project's settings, and the packaged spiders only."""
    settings = Settings()
    settings.setmodule(SETTINGS_MODULE, priority="project")
    settings.set("SPIDER_MODULES", PACKAGED_SPIDERS, priority="project")
    return settings


@dataclass(frozen=True)
class Scrapy:
    """A subcommand that is one of the project's Scrapy commands."""

    command: str  # the ScrapyCommand class, as a dotted path
    example: str
    syntax: str = "[options]"
    spider: str | None = None  # crawl and worker: the spider `scrapy crawl` runs
    site_argument: bool = False  # crawl: SITE_DIR is the spider's `source`

    def summary(self) -> str:
        return load_object(self.command)().short_desc()

    def run(self, name: str, argv: Sequence[str]) -> int:
        command: ScrapyCommand = load_object(self.command)()
        command.invoked_as = f"{PROG} {name}"  # type: ignore[attr-defined]  # its messages
        settings = linkhealth_settings()
        parser = self._parser(name, command)
        settings.setdict(command.default_settings, priority="command")
        command.settings = settings
        command.add_options(parser)
        if self.site_argument:
            parser.add_argument("--workers", type=int, default=0, metavar="N",
                                help="the crawl on a private local redis-server and N worker "
                                     "processes (needs the [distributed] extra)")
        opts, args = parser.parse_known_args(list(argv))
        try:
            command.process_options(args, opts)
            args = self._spider_arguments(args, opts)
            if self.site_argument and opts.workers:
                return self._distributed(opts, settings)
            if command.requires_crawler_process:
                command.crawler_process = crawler_process(settings)
            run_command(command, args, opts)
        except UsageError as exc:
            if str(exc):
                parser.error(str(exc))
            parser.print_help(sys.stderr)
            return EXIT_ERROR
        return command.exitcode

    def _parser(self, name: str, command: ScrapyCommand) -> Parser:
        # The command's own description, without the `scrapy ...` example it ends with: the
        # linkhealth one comes last.
        description = SUMMARIES.get(name) or re.sub(r"\s*Example:.*\Z", "", command.long_desc(),
                                                    flags=re.S)
        return Parser(prog=f"{PROG} {name}", usage=f"{PROG} {name} {self.syntax}",
                      description=description, epilog=f"Example: {self.example}",
                      formatter_class=ScrapyHelpFormatter, conflict_handler="resolve")

    def _spider_arguments(self, args: list[str], opts: argparse.Namespace) -> list[str]:
        """``crawl SITE_DIR`` is ``scrapy crawl links -a source=SITE_DIR``."""
        if self.spider is None:
            return args
        if self.site_argument:
            if len(args) != 1:
                raise UsageError("give the site's directory: linkhealth crawl SITE_DIR",
                                 print_help=False)
            if "source" in opts.spargs:
                raise UsageError("the site's directory is SITE_DIR, not -a source=",
                                 print_help=False)
            if not Path(args[0]).is_dir():  # the spider would stop on it with a traceback
                raise UsageError(f"the site's directory is not a directory: {args[0]}",
                                 print_help=False)
            opts.spargs["source"] = args[0]
        elif args:
            raise UsageError(f"unexpected arguments: {' '.join(args)}", print_help=False)
        return [self.spider]

    @staticmethod
    def _distributed(opts: argparse.Namespace, settings: Settings) -> int:
        from crawler.distributed.extra import missing_extra

        missing = missing_extra()
        if missing:
            print(f"{PROG} crawl: error: {missing}", file=sys.stderr)
            return EXIT_ERROR
        if opts.workers < 1:
            raise UsageError("--workers must be at least 1", print_help=False)
        from crawler.distributed.local import run  # imports redis

        spargs = dict(opts.spargs)
        return run(opts.workers, spargs.pop("source"), settings.get("LINKHEALTH_DB"),
                   list(opts.set), [f"{key}={value}" for key, value in spargs.items()])


def crawler_process(settings: Settings) -> CrawlerProcess | AsyncCrawlerProcess:
    """The process ``scrapy`` would make for these settings (cmdline.execute's rule)."""
    asyncio = (settings["TWISTED_REACTOR"] == ASYNCIO_REACTOR
               and not settings.getbool("FORCE_CRAWLER_PROCESS"))
    if asyncio or not settings.getbool("TWISTED_REACTOR_ENABLED"):
        return AsyncCrawlerProcess(settings)
    return CrawlerProcess(settings)


def run_command(command: ScrapyCommand, args: list[str], opts: argparse.Namespace) -> None:
    if not opts.profile:
        command.run(args, opts)
        return
    print(f"{PROG}: writing cProfile stats to {opts.profile!r}", file=sys.stderr)
    profile = cProfile.Profile()
    profile.runcall(command.run, args, opts)
    profile.dump_stats(opts.profile)


@dataclass(frozen=True)
class Job:
    """A subcommand that is a job's ``main(argv, prog)``, or Datasette's."""

    main: Callable[[Sequence[str], str], int]
    line: str

    def summary(self) -> str:
        return self.line

    def run(self, name: str, argv: Sequence[str]) -> int:
        return self.main(list(argv), f"{PROG} {name}")


def nightly(argv: Sequence[str], prog: str) -> int:
    from crawler.jobs.nightly import main

    return main(argv, prog)


def demo(argv: Sequence[str], prog: str) -> int:
    from crawler.jobs.demo import main

    return main(list(argv), prog)


def browse(argv: Sequence[str], prog: str) -> int:
    """Datasette on the database, with linkhealth's metadata; the snapshot plugin comes through
    Datasette's entry point (``pyproject.toml``), as it does for ``datasette DB`` alone."""
    parser = ArgumentParser(
        prog=prog, description="Browse the database in Datasette: the canned queries and the "
        "archived snapshots, read-only, on 127.0.0.1 unless --host says otherwise. Options "
        "this command does not know go to `datasette serve`.",
        epilog=f"Example: {PROG} browse --db state/linkhealth.db --port 8001")
    parser.add_argument("--db", default=None, metavar="PATH",
                        help="the database (default: the LINKHEALTH_DB setting, "
                             "state/linkhealth.db)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="the address to listen on (default: 127.0.0.1; a public "
                             "Datasette shows everything in the database)")
    parser.add_argument("-p", "--port", type=int, default=8001, help="default: 8001")
    opts, rest = parser.parse_known_args(argv)
    db = Path(opts.db or linkhealth_settings().get("LINKHEALTH_DB"))
    if not db.is_file():
        print(f"{prog}: error: no database at {db} (run `{PROG} crawl SITE_DIR` first)",
              file=sys.stderr)
        return EXIT_ERROR
    from datasette.cli import cli

    with resources.as_file(resources.files("crawler.browse") / "metadata.yml") as metadata:
        arguments = ["serve", str(db), "--metadata", str(metadata),
                     "--host", opts.host, "--port", str(opts.port), *rest]
        try:
            cli.main(args=arguments, prog_name=prog, standalone_mode=False)
        except Exception as exc:  # noqa: BLE001 - click's own errors: one line, no traceback
            print(f"{prog}: error: {exc}", file=sys.stderr)
            return EXIT_ERROR
    return EXIT_OK


SUBCOMMANDS: dict[str, Scrapy | Job] = {
    "crawl": Scrapy("crawler.commands.crawl.Command", f"{PROG} crawl ../my-site "
                    "-s LINKHEALTH_CONTACT_URL=https://my.site/bot",
                    syntax="SITE_DIR [options]", spider="links", site_argument=True),
    "report": Scrapy("crawler.commands.report.Command", f"{PROG} report --format html "
                     "-o public/links.html --with-snapshots --fail-on broken,dns_error"),
    "browse": Job(browse, "Browse the database in Datasette (canned queries, snapshots)"),
    "fix": Scrapy("crawler.commands.fix.Command", f"{PROG} fix -o fix.patch --dead auto "
                  "(then, in the site: git apply fix.patch)"),
    "snapshot": Scrapy("crawler.commands.snapshot.Command", f"{PROG} snapshot "
                       "https://example.com/post -o post.html", syntax="URL [options]"),
    "export-warc": Scrapy("crawler.cli.export_warc.Command", f"{PROG} export-warc "
                          "-o archive/links.warc.gz --since 2026-01-01",
                          syntax="-o FILE.warc.gz [options]"),
    "prune": Scrapy("crawler.commands.prune.Command", f"{PROG} prune --keep 3 "
                    "--older-than 90d --apply --vacuum"),
    "nightly": Job(nightly, "Crawl a site, then write its report in every format into a "
                            "dated directory"),
    "demo": Job(demo, "The whole pipeline offline: local servers, a synthetic site, two "
                      "crawls, the reports"),
    "worker": Scrapy("crawler.commands.crawl.Command", "LINKHEALTH_REDIS_URL=redis://HOST:6379/0 "
                     f"LINKHEALTH_REDIS_SECRET=... {PROG} worker -a idle_exit=60",
                     spider="links-worker"),
    "ingest": Scrapy("crawler.commands.ingest.Command", "LINKHEALTH_REDIS_URL=redis://HOST:6379/0 "
                     f"LINKHEALTH_REDIS_SECRET=... {PROG} ingest --db state/linkhealth.db",
                     syntax="[--db PATH] [--no-wait]"),
}
SUMMARIES = {  # where the Scrapy command's own text does not fit the subcommand (and --help)
    "crawl": "Check every URL a site's front matter references; record it in the database",
    "worker": "Check URLs of a distributed run taken from its Redis frontier",
}


def overview() -> str:
    lines = [f"usage: {PROG} COMMAND [options]   ({PROG} COMMAND --help for its options)", "",
             "Check every link of a front-matter (Jekyll-style) site, keep the history and "
             "archived copies in SQLite, report and fix what broke.", "", "commands:"]
    for name, sub in SUBCOMMANDS.items():
        lines.append(f"  {name:<12} {SUMMARIES.get(name) or sub.summary()}")
    lines += ["", f"Example: {PROG} crawl ../my-site && {PROG} report -o state/report.md"]
    return "\n".join(lines)


def version() -> str:
    try:
        return metadata.version("linkhealth")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(overview())
        return EXIT_OK
    if argv[0] == "--version":
        print(f"{PROG} {version()}")
        return EXIT_OK
    sub = SUBCOMMANDS.get(argv[0])
    if sub is None:
        print(f"{PROG}: error: unknown command {argv[0]!r} (choose from: "
              f"{', '.join(SUBCOMMANDS)})", file=sys.stderr)
        return EXIT_ERROR
    return sub.run(argv[0], argv[1:])


if __name__ == "__main__":
    sys.exit(main())
