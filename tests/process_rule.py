"""The rule that keeps ``pytest -m "not e2e"`` quick: a test that starts a process is ``e2e``.

A quick test runs in the pytest process. A test that starts another process (a real
``scrapy crawl``, a ``scrapy`` command, a bench script, ``make``, ``redis-server``, a
``python -c`` probe...) must be marked ``e2e``; ``git`` alone is allowed (the fix tests build
repositories with it in milliseconds).

Nobody has to remember it: an audit hook (``sys.addaudithook``) sees every process this
process starts (``subprocess``, ``os.system``, ``os.exec*``, ``os.posix_spawn``), whoever
calls it, and a test that started one fails unless it is marked ``e2e``. That includes the
processes started by the fixtures it uses, also when a module-scoped fixture was set up
earlier for another test: the fixture itself is remembered as one that starts processes. So a
missing marker fails the full suite (CI), not only the quick subset.
"""

from __future__ import annotations

import os
import shlex
import sys

import pytest

ALLOWED_PROGRAMS = frozenset({"git"})
MARKER = "e2e"
PROCESS_EVENTS = frozenset({"subprocess.Popen", "os.system", "os.exec", "os.posix_spawn"})

_started: list[str] = []  # every command this process started (except ALLOWED_PROGRAMS)
_fixtures_that_start: dict[tuple[str, str], str] = {}  # (scope node id, name) -> first command
_test_start: dict[str, int] = {}  # test node id -> len(_started) when its setup began


def _command(event: str, args: tuple) -> tuple[str, str]:
    """(program, command line) of an audit event that starts a process."""
    if event == "os.system":  # (command,)
        line = os.fsdecode(args[0])
        return line.split(maxsplit=1)[0] if line.strip() else "", line
    # subprocess.Popen: (executable, args, cwd, env); os.exec, os.posix_spawn: (path, argv, env)
    program, argv = args[0], args[1]
    return os.path.basename(os.fsdecode(program)), shlex.join(os.fsdecode(a) for a in argv)


def _audit(event: str, args: tuple) -> None:
    if event not in PROCESS_EVENTS:
        return
    try:
        program, line = _command(event, args)
    except Exception:  # an audit hook must never break the call it watches
        program, line = "", event
    if program not in ALLOWED_PROGRAMS:
        _started.append(line[:300])


sys.addaudithook(_audit)


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef, request):
    before = len(_started)
    try:
        return (yield)
    finally:
        if len(_started) > before:
            # request.node is the fixture's scope node: the test, its module, the session...
            _fixtures_that_start.setdefault((request.node.nodeid, fixturedef.argname),
                                            _started[before])


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    _test_start[item.nodeid] = len(_started)


def started_by(item: pytest.Item, fixtures: bool = True) -> list[str]:
    """The commands a test started since its setup began (or since its last report), and
    those of the fixtures it uses (wherever they were set up)."""
    commands = _started[_test_start.get(item.nodeid, len(_started)):]
    if fixtures:
        scopes = [node.nodeid for node in item.listchain()]
        for name in getattr(item, "fixturenames", ()):
            for scope in scopes:
                command = _fixtures_that_start.get((scope, name))
                if command is not None and command not in commands:  # not set up just now
                    commands.append(f"{command}  (fixture {name!r})")
    return list(dict.fromkeys(commands))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if report.when == "setup" or item.get_closest_marker(MARKER) is not None:
        return report
    commands = started_by(item, fixtures=report.when == "call")
    _test_start[item.nodeid] = len(_started)  # the teardown report names only its own
    if commands:
        message = (f"{item.nodeid} started a process but is not marked {MARKER}:\n"
                   + "".join(f"    {command}\n" for command in commands)
                   + f"Mark it @pytest.mark.{MARKER} (or pytestmark = pytest.mark.{MARKER} in its "
                   f"module) so that `pytest -m \"not {MARKER}\"` stays quick "
                   "(tests/process_rule.py).")
        if report.passed:
            report.outcome = "failed"
            report.longrepr = message
        else:
            report.sections.append((f"not marked {MARKER}", message))
    return report
