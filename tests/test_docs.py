"""The documentation stays true.

* every ``LINKHEALTH_*`` setting is documented with its default in docs/configuration.md, whose
  table is ``python -m crawler.defaults``'s output; the Scrapy settings tables there match
  ``crawler/settings.py`` and Scrapy's defaults;
* docs/architecture.md names every package and every component the settings name;
* every link of the README and docs/ leads to a file (and heading) that exists, and every
  path, module and command named there exists;
* the README stays short, its quick start is two make commands, and every command in it is
  run here as written (``scrapy`` ones) or checked against the Makefile (``make`` ones).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from scrapy.settings import default_settings as scrapy_defaults

from crawler import defaults
from crawler import settings as project_settings
from crawler.defaults import SETTINGS
from tests.crawl import REPO, TEST_SETTINGS, write_site
from tests.forward_proxy import ForwardProxy
from tests.webserver import Web

README = (REPO / "README.md").read_text(encoding="utf-8")
DOCS = REPO / "docs"
CONFIGURATION = (DOCS / "configuration.md").read_text(encoding="utf-8")
ARCHITECTURE = (DOCS / "architecture.md").read_text(encoding="utf-8")
# Where links are followed and named paths looked for.
PAGES = [REPO / "README.md", *sorted(DOCS.glob("*.md")), REPO / "bench" / "README.md"]
READ_PAGES = [REPO / "README.md", *sorted(DOCS.glob("*.md"))]


# -- settings ------------------------------------------------------------------------------

@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.name)
def test_every_linkhealth_setting_is_documented_with_its_default(setting):
    row = re.search(rf"^\| `{setting.name}` \| `([^`]*)` \|", CONFIGURATION, re.M)
    assert row, f"{setting.name} missing from the settings table of docs/configuration.md"
    default = setting.default if isinstance(setting.default, str) else json.dumps(setting.default)
    assert row.group(1) == (default or '""')


def test_the_settings_table_is_the_declarations_output():
    assert defaults.with_table(CONFIGURATION) == CONFIGURATION, (
        "docs/configuration.md is stale: run .venv/bin/python -m crawler.defaults --write")


@pytest.mark.e2e
def test_python_m_crawler_defaults_write_rewrites_a_stale_table(tmp_path):
    stale = CONFIGURATION.replace("| `LINKHEALTH_DB` | `state/linkhealth.db` |",
                                  "| `LINKHEALTH_DB` | `old.db` |")
    assert stale != CONFIGURATION
    document = tmp_path / "configuration.md"
    document.write_text(stale, encoding="utf-8")
    command = [sys.executable, "-m", "crawler.defaults", "--write", str(document)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert document.read_text(encoding="utf-8") == CONFIGURATION
    assert "rewritten" in done.stdout

    document.write_text("# no table here\n", encoding="utf-8")
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "no settings table" in done.stderr
    assert document.read_text(encoding="utf-8") == "# no table here\n"


def test_no_undeclared_linkhealth_setting_is_used():
    used = set()
    for path in [*(REPO / "crawler").rglob("*.py"), *(REPO / "spiders").rglob("*.py")]:
        used |= set(re.findall(r"\bLINKHEALTH_[A-Z_]+\b", path.read_text(encoding="utf-8")))
    declared = {s.name for s in SETTINGS}
    assert used - declared == set()


def test_settings_module_carries_every_default():
    for setting in SETTINGS:
        assert getattr(project_settings, setting.name) == setting.default


def _scrapy_tables() -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """The two tables of Scrapy settings in docs/configuration.md: name -> the row's cells."""
    section = CONFIGURATION.split("## Scrapy settings set differently", 1)[1]
    tables: list[dict[str, list[str]]] = [{}]
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("| `"):
            tables[-1][cells[0].strip("`")] = cells[1:]
        elif not line.startswith("|") and tables[-1]:
            tables.append({})
    differing, at_default = (table for table in tables if table)
    return differing, at_default


def _shown(value) -> str:
    """A setting's value as the tables write it."""
    if isinstance(value, str):
        return value or '""'
    if isinstance(value, list):
        return json.dumps(value)
    return repr(value)


def _project_settings() -> dict[str, object]:
    return {name: getattr(project_settings, name) for name in dir(project_settings)
            if name.isupper() and name != "DEFAULTS" and not name.startswith("LINKHEALTH_")}


def test_the_scrapy_settings_tables_are_crawler_settings():
    differing, at_default = _scrapy_tables()
    for name, value in _project_settings().items():
        assert hasattr(scrapy_defaults, name), f"{name} is no Scrapy setting"
        default = getattr(scrapy_defaults, name)
        if value == default:
            assert name in at_default, f"{name} (set to Scrapy's default) is not documented"
            assert at_default[name][0] == f"`{_shown(value)}`", name
            continue
        assert name in differing, f"{name} differs from Scrapy's default and is not documented"
        ours, scrapys = differing[name][:2]
        if isinstance(value, dict):
            # components: each one turned off is named in the row
            for component, order in value.items():
                if order is None:
                    assert component.rpartition(".")[2] in ours, (name, component)
        else:
            assert ours == f"`{_shown(value)}`", name
            assert scrapys == f"`{_shown(default)}`", name
    documented = set(differing) | set(at_default)
    assert documented <= set(_project_settings()), "documented but not set in crawler/settings.py"


# -- architecture --------------------------------------------------------------------------

def test_architecture_names_every_package():
    packages = sorted(p.parent for p in (REPO / "crawler").glob("*/__init__.py"))
    for package in [*packages, REPO / "spiders"]:
        name = package.relative_to(REPO).as_posix()
        assert re.search(rf"^\| `{name}` \|", ARCHITECTURE, re.M), f"{name} has no row"


def _components(value) -> list[str]:
    if isinstance(value, dict):
        return [name for key, order in value.items()
                for name in (key, order) if isinstance(name, str)]
    return [value] if isinstance(value, str) else []


def _source(dotted: str) -> str:
    """The file (or package) a dotted module or class path lives in, as a path."""
    try:
        if importlib.util.find_spec(dotted) is not None:
            return dotted.replace(".", "/")
    except ModuleNotFoundError:  # a class: its parent is a module, not a package
        pass
    return dotted.rpartition(".")[0].replace(".", "/") + ".py"


def test_architecture_names_every_component_the_settings_name():
    named = 0
    for name, value in _project_settings().items():
        for component in _components(value):
            if component.startswith("crawler."):
                source = _source(component)
                assert f"`{source}`" in ARCHITECTURE, f"{name}: {source}"
                named += 1
    assert named >= 15


# -- links, paths, modules -----------------------------------------------------------------

def _slug(heading: str) -> str:
    """GitHub's anchor of a heading."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "").lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    seen: dict[str, int] = {}
    anchors = set()
    for heading in re.findall(r"^#{1,6} (.+)$", text, re.M):
        slug = _slug(heading.strip())
        anchors.add(f"{slug}-{seen[slug]}" if slug in seen else slug)
        seen[slug] = seen.get(slug, 0) + 1
    return anchors


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_link_leads_to_a_file_and_heading_that_exist(page):
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        assert linked.exists(), f"{page.name}: {target}"
        if anchor:
            assert anchor in _anchors(linked), f"{page.name}: {target}"


def test_the_readme_links_every_page_of_docs():
    linked = {(REPO / target).resolve() for target in re.findall(r"\]\(([^)#\s]+)", README)}
    assert set(DOCS.glob("*.md")) - linked == set()


ROOTS = ("crawler/", "spiders/", "tests/", "bench/", "scripts/", "docs/", "examples/", ".github/")


@pytest.mark.parametrize("page", READ_PAGES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_path_and_module_named_exists(page):
    text = page.read_text(encoding="utf-8")
    for code in re.findall(r"`([^`\n]+)`", text):
        if code.startswith(ROOTS) and re.fullmatch(r"[\w./*-]+", code):
            assert list(REPO.glob(code.rstrip("/"))), f"{page.name}: no {code}"
        elif re.fullmatch(r"crawler(\.\w+)+", code):
            _resolve(code)
    for module in re.findall(r"python -m ([\w.]+)", text):
        assert importlib.util.find_spec(module), f"{page.name}: no module {module}"


def _resolve(dotted: str) -> None:
    """Import the longest module prefix of ``dotted``, then find the rest as attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[cut:]:
            assert hasattr(found, attribute), dotted
            found = getattr(found, attribute)
        return
    raise AssertionError(f"no module {dotted}")


# -- the README's commands -----------------------------------------------------------------

def test_the_readme_is_short():
    assert len(README.splitlines()) < 250


@pytest.mark.e2e
def test_quick_start_make_crawl_works(tmp_path):
    """`make crawl` as in the README (reusing this venv instead of creating one)."""
    venv = Path(sys.prefix)
    db, report = tmp_path / "quick.db", tmp_path / "report.md"
    process = subprocess.run(
        ["make", "-o", f"{venv}/bin/scrapy", "crawl", f"VENV={venv}", f"DB={db}", f"REPORT={report}"],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert process.returncode == 0, process.stderr[-3000:]
    text = report.read_text(encoding="utf-8")
    assert "## Problems by document" in text
    assert "`_news/2023-01-16-odd-links.md`" in text
    assert "## Documents that could not be parsed" in text and "2023-01-15-broken-yaml.md" in text


def test_readme_quick_start_is_two_make_commands():
    block = re.search(r"## Quick start.*?```sh\n(.*?)```", README, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]
    assert commands == ["make crawl", "make test"]
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^crawl:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
    assert "make test" in (REPO / ".ci" / "run").read_text(encoding="utf-8")


def _readme_commands() -> list[list[str]]:
    """Every command of the README's ``sh`` blocks, as words."""
    blocks = re.findall(r"```sh\n(.*?)```", README, re.S)
    return [words for block in blocks for line in block.splitlines()
            if (words := shlex.split(line, comments=True))]


def _environment_and_program(words: list[str]) -> tuple[dict[str, str], list[str]]:
    environment = {}
    while words and re.fullmatch(r"[A-Za-z_]+=\S*", words[0]):
        name, _, value = words.pop(0).partition("=")
        environment[name] = value
    return environment, words


# What runs each make target of the README, here or in another test file.
MAKE_TARGETS_TESTED_BY = {
    "crawl": "tests/test_docs.py",          # test_quick_start_make_crawl_works
    "test": ".ci/run",
    "nightly": "tests/test_nightly.py",     # crawler.jobs.nightly, as the target runs it
    "browse": "tests/test_datasette.py",    # the metadata and plugins the target passes
    "demo": "tests/test_demo.py",           # crawler.jobs.demo
}
# WORKERS=N: crawler.distributed.local, run in tests/test_distributed_hostile.py


def test_readme_make_commands_are_makefile_targets():
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    made = [words[1:] for words in _readme_commands() if words[0] == "make"]
    assert made
    for arguments in made:
        target = next(word for word in arguments if "=" not in word)
        assert re.search(rf"^{target}:", makefile, re.M), target
        assert (REPO / MAKE_TARGETS_TESTED_BY[target]).is_file(), target
        for assignment in (word for word in arguments if "=" in word):
            variable = assignment.partition("=")[0]
            assert re.search(rf"^{variable}\s*\?=", makefile, re.M), assignment


@pytest.mark.e2e
def test_readme_scrapy_commands_run_as_written(tmp_path):
    """Every ``.venv/bin/scrapy`` command of the README, run in order on a small site against
    a loopback web: ``../my-site`` is that site, ``state/`` a fresh directory, the example
    URL a page of the site and the proxy a real forwarding proxy; ``git -C ../my-site apply``
    applies the fix patch to that site."""
    commands = [words for words in _readme_commands() if words[0] != "make"]
    for words in commands:
        assert _environment_and_program(list(words))[1][0] in {".venv/bin/scrapy", "git"}, (
            f"a README command this test does not run: {shlex.join(words)}")
    assert len(commands) >= 5

    work = tmp_path / "work"
    work.mkdir()
    environment = {name: value for name, value in os.environ.items()
                   if not name.lower().endswith("_proxy")}
    environment.update(SCRAPY_SETTINGS_MODULE="crawler.settings",
                       TLDEXTRACT_CACHE=str(tmp_path / "tldextract-cache"))
    with Web() as web, ForwardProxy({"127.0.0.1": "127.0.0.1"}) as proxy:
        web.cdx["timestamps"] = ["20210301120000"]  # the dead page's capture, for scrapy fix
        write_site(tmp_path / "my-site", {
            "_news/2024-01-01-fine.md": {"title": "Fine", "webUrl": web.url("/ok"),
                                         "images": [{"url": web.url("/image.png")}]},
            "_news/2024-01-02-gone.md": {"title": "Gone", "webUrl": web.url("/status/404")},
        })
        placeholders = {"https://example.com/article": web.url("/ok"),
                        "http://proxy.internal:3128": proxy.url}
        settings = {**TEST_SETTINGS, "LINKHEALTH_WAYBACK_CDX_URL": web.url("/cdx/search/cdx")}
        extra = [word for name, value in settings.items() for word in ("-s", f"{name}={value}")]
        for words in commands:
            words = [placeholders.get(word, word).replace("$PWD", str(work)) for word in words]
            if words[0] == "git":  # applying the fix patch: the dead link leaves the site
                done = subprocess.run(words, cwd=work, capture_output=True, text=True,
                                      timeout=60)
                assert done.returncode == 0, (shlex.join(words), done.stderr[-3000:])
                gone = (tmp_path / "my-site" / "_news" / "2024-01-02-gone.md").read_text()
                assert "webUrl: https://web.archive.org/web/20210301120000/http" in gone, gone
                continue
            line_environment, program = _environment_and_program(words)
            line_environment = {name: placeholders.get(value, value)
                                for name, value in line_environment.items()}
            program[0] = str(Path(sys.prefix) / "bin" / "scrapy")
            before = len(proxy.targets())
            done = subprocess.run([*program, *extra], cwd=work, capture_output=True, text=True,
                                  timeout=180, env={**environment, **line_environment})
            allowed = {0, 2} if "--fail-on" in program else {0}
            assert done.returncode in allowed, (shlex.join(words), done.stderr[-3000:])
            if "-o" in program:
                written = work / program[program.index("-o") + 1]
                assert written.stat().st_size > 0, shlex.join(words)
            if line_environment:  # the proxy recipe: its requests went through the proxy
                assert len(proxy.targets()) > before, shlex.join(words)
    assert web.hits("/ok") >= 1
