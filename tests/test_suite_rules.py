"""The test suite's own rules: a test that starts a process is marked e2e (tests/process_rule.py),
fixtures live in conftest.py or the test module that uses them, and a test module imports
helper modules, never another test module."""

from __future__ import annotations

import ast
import textwrap

import pytest

from tests.crawl import REPO

TESTS = REPO / "tests"

INNER_TESTS = textwrap.dedent('''
    import os
    import subprocess
    import sys

    import pytest

    PYTHON = [sys.executable, "-c", "pass"]


    @pytest.fixture(scope="module")
    def crawled():
        subprocess.run(PYTHON, check=True)
        return "a database"


    @pytest.mark.e2e
    def test_marked_reads_the_crawl(crawled):
        assert crawled


    def test_unmarked_reads_the_crawl_an_earlier_test_made(crawled):
        assert crawled


    def test_unmarked_starts_python():
        subprocess.run(PYTHON, check=True)


    def test_unmarked_calls_os_system():
        assert os.system("true") == 0


    def test_unmarked_runs_git(tmp_path):
        subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)


    def test_unmarked_quick():
        assert sum([1, 2]) == 3
''')
UNMARKED_STARTERS = ["test_unmarked_reads_the_crawl_an_earlier_test_made",
                     "test_unmarked_starts_python", "test_unmarked_calls_os_system"]


@pytest.fixture
def inner(pytester, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # tests.process_rule, from another directory
    pytester.makeini("[pytest]\nmarkers =\n    e2e: starts a process\n")
    pytester.makepyfile(test_inner=INNER_TESTS)

    def run(*args: str) -> pytest.RunResult:
        return pytester.runpytest_subprocess("-p", "tests.process_rule", "-p", "no:cacheprovider",
                                             "-p", "no:xdist", "-rf", *args)
    return run


@pytest.mark.e2e
@pytest.mark.parametrize("selection", [[], ["-m", "not e2e"]], ids=["full", "quick"])
def test_a_test_that_starts_a_process_without_the_e2e_marker_fails(inner, selection):
    result = inner(*selection)
    full = not selection
    result.assert_outcomes(passed=3 if full else 2, failed=3, deselected=0 if full else 1)
    failed = {line.split("::")[1].split()[0] for line in result.outlines
              if line.startswith("FAILED ")}
    assert failed == set(UNMARKED_STARTERS)
    text = result.stdout.str()
    assert "test_unmarked_starts_python started a process but is not marked e2e" in text
    assert "-c pass" in text and "    true\n" in text
    # the full run set the fixture up for the marked test: the unmarked one is told why
    assert ("-c pass  (fixture 'crawled')" in text) == full


def python_files():
    return sorted(path for path in TESTS.glob("*.py") if path.name != "__init__.py")


def test_test_modules_import_helper_modules_never_each_other():
    imports = {}
    for path in python_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [node.module] if isinstance(node, ast.ImportFrom) and node.module else \
                [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            for name in names:
                if name.startswith("tests.test_") or name.startswith("tests.conftest"):
                    imports.setdefault(path.name, []).append(name)
    assert imports == {}


def test_fixtures_live_in_conftest_or_in_the_test_module_that_uses_them():
    """A fixture in a helper module is only usable by importing it by name (a noqa import
    that looks unused): shared fixtures go in tests/conftest.py."""
    helpers_with_fixtures = []
    for path in python_files():
        if path.name == "conftest.py" or path.name.startswith("test_"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and any(
                    "fixture" in ast.unparse(decorator) for decorator in node.decorator_list):
                helpers_with_fixtures.append(f"{path.name}: {node.name}")
    assert helpers_with_fixtures == []
