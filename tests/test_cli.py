"""The ``linkhealth`` command's own surface, in this process (no crawl starts): every
subcommand's ``--help`` ends with an example of it, exit statuses are the documented ones
(1 for any error, usage errors included; 2 only for a matched ``--fail-on``), its messages
name ``linkhealth COMMAND``, and the reactor and the ``[distributed]`` extra are chosen and
reported as docs/cli.md says. tests/test_install.py runs the installed command itself."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from crawler.cli import linkhealth
from crawler.core import reactor
from crawler.distributed import extra


def run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        status = linkhealth.main(list(argv))
    except SystemExit as exc:  # argparse's --help
        status = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize("name", list(linkhealth.SUBCOMMANDS))
def test_every_subcommands_help_ends_with_an_example_of_it(capsys, name):
    status, out, _ = run(capsys, name, "--help")
    assert status == 0
    assert f"linkhealth {name} " in out.split("\n\n")[0]  # the usage line
    assert "spider" not in out.split("\n\n")[1]  # what it does, not how Scrapy runs it
    example = out.rsplit("Example:", 1)[1]
    assert f"linkhealth {name}" in " ".join(example.split())


def test_the_overview_lists_every_subcommand_with_an_example(capsys):
    status, out, _ = run(capsys, "--help")
    assert status == 0
    listed = [line.split()[0] for line in out.splitlines() if line.startswith("  ")]
    assert listed == list(linkhealth.SUBCOMMANDS)
    assert "Example: linkhealth crawl" in out


def installed(cwd: Path, *argv: str) -> subprocess.CompletedProcess:
    """This environment's ``linkhealth`` script (a Scrapy command configures logging for the
    process it runs in: not this one)."""
    return subprocess.run([str(Path(sys.prefix) / "bin" / "linkhealth"), *argv], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.e2e
@pytest.mark.parametrize("argv, says", [
    (["no-such-command"], "linkhealth: error: unknown command 'no-such-command'"),
    (["report", "--no-such-option"], "linkhealth report: error: unexpected arguments"),
    (["crawl"], "linkhealth crawl: error: give the site's directory"),
    (["crawl", "a", "b"], "linkhealth crawl: error: give the site's directory"),
    (["crawl", ".", "-a", "source=other"], "linkhealth crawl: error: the site's directory"),
    (["crawl", "no-such-site"], "linkhealth crawl: error: the site's directory is not a "
                                "directory: no-such-site"),
    (["crawl", ".", "--workers", "-1"], "linkhealth crawl: error: --workers must be at least 1"),
    (["report", "--fail-on", "brokn"], "linkhealth report: error: unknown outcome"),
    (["browse", "--db", "nowhere/linkhealth.db"], "linkhealth browse: error: no database at"),
    (["snapshot"], "linkhealth snapshot: error: give the URL whose snapshot to write "
                   "(linkhealth snapshot URL)"),
], ids=["unknown-command", "unknown-option", "no-site", "two-sites", "source-twice",
        "missing-site", "workers-negative", "fail-on-typo", "browse-no-database", "no-url"])
def test_an_error_exits_1_and_names_the_linkhealth_command(tmp_path, argv, says):
    done = installed(tmp_path, *argv)
    assert done.returncode == 1, done.stderr
    assert says in done.stderr
    assert "Traceback" not in done.stderr and "scrapy " not in done.stderr


@pytest.mark.e2e
def test_report_on_a_missing_database_is_an_error_not_a_new_database(tmp_path):
    done = installed(tmp_path, "report", "--db", "state/linkhealth.db")
    assert done.returncode == 1 and done.stderr.startswith("linkhealth report: error:"), (
        done.stderr)
    assert not (tmp_path / "state" / "linkhealth.db").exists()


def test_version(capsys):
    status, out, _ = run(capsys, "--version")
    assert status == 0 and out.startswith("linkhealth ")


def test_the_epoll_reactor_where_there_is_epoll_and_the_select_one_with_a_line_elsewhere():
    assert reactor.preferred_reactor(epoll=True) == reactor.EPOLL
    assert reactor.preferred_reactor(epoll=False) == reactor.SELECT
    assert reactor.reactor_note(reactor.EPOLL) is None
    note = reactor.reactor_note(reactor.SELECT, platform="darwin")
    assert note is not None and "darwin" in note and "\n" not in note
    asyncio = reactor.reactor_note("twisted.internet.asyncioreactor.AsyncioSelectorReactor")
    assert asyncio is not None and "CONCURRENT_REQUESTS_PER_DOMAIN" in asyncio


def test_linux_crawls_on_epoll():
    """tests/test_politeness.py measured the per-host limit on this reactor."""
    from crawler import settings

    assert reactor.has_epoll()  # the suite runs on Linux
    assert settings.TWISTED_REACTOR == reactor.EPOLL


def test_without_the_distributed_extra_one_line_says_how_to_get_it(monkeypatch):
    assert extra.missing_extra() is None  # the test extra pulls the distributed one
    real = extra.importlib.util.find_spec
    monkeypatch.setattr(extra.importlib.util, "find_spec",
                        lambda name: None if name == "scrapy_redis" else real(name))
    message = extra.missing_extra()
    assert message is not None and "\n" not in message
    assert "scrapy_redis" in message and "redis and" not in message
    assert message.endswith("pip install 'linkhealth[distributed]'")
