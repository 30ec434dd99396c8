"""What pyproject.toml declares against what the package imports and reads (issue 19): every
third-party import of ``crawler/`` is a declared dependency (the ``distributed`` extra's only
where a distributed run needs it), and every file the package reads at run time is package
data. tests/test_install.py builds and installs the wheel itself."""

from __future__ import annotations

import ast
import fnmatch
import re
import sys
import tomllib
from importlib import metadata

from tests.crawl import REPO

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
PACKAGE = REPO / "crawler"
EXTRA = "distributed"


def normalized(requirement: str) -> str:
    name = re.match(r"[A-Za-z0-9._-]+", requirement).group(0)  # type: ignore[union-attr]
    return re.sub(r"[-_.]+", "-", name).lower()


def third_party_imports() -> dict[str, set[str]]:
    """Each top-level module imported from outside the standard library: the files importing it."""
    found: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != "crawler":
                    found.setdefault(top, set()).add(str(path.relative_to(REPO)))
    return found


def distributions(module: str) -> set[str]:
    return {normalized(name) for name in metadata.packages_distributions().get(module, [])}


def test_every_third_party_import_is_a_declared_dependency():
    base = {normalized(r) for r in PYPROJECT["project"]["dependencies"]}
    extra = {normalized(r) for r in PYPROJECT["project"]["optional-dependencies"][EXTRA]}
    imports = third_party_imports()
    assert {"brotli", "scrapy", "datasette"} <= set(imports)  # the scan sees them
    for module, files in imports.items():
        provided_by = distributions(module)
        assert provided_by, f"{module} (imported by {sorted(files)}) is not installed"
        if provided_by & base:
            continue
        assert provided_by & extra, f"{module} (imported by {sorted(files)}) is not declared"
        outside = {f for f in files if not f.startswith("crawler/distributed/")}
        assert not outside, f"{module} needs the [{EXTRA}] extra, yet {sorted(outside)} import it"


def test_the_test_extra_pulls_the_distributed_one():
    assert f"linkhealth[{EXTRA}]" in PYPROJECT["project"]["optional-dependencies"]["test"]


def test_every_file_the_package_reads_is_package_data():
    patterns = PYPROJECT["tool"]["setuptools"]["package-data"]
    for path in PACKAGE.rglob("*"):
        if not path.is_file() or path.suffix in (".py", ".pyc") or "__pycache__" in path.parts:
            continue
        package = ".".join(path.parent.relative_to(REPO).parts)
        owners = {name: globs for name, globs in patterns.items()
                  if package == name or package.startswith(name + ".")}
        relative = {name: str(path.relative_to(REPO / name.replace(".", "/")))
                    for name in owners}
        assert any(fnmatch.fnmatch(relative[name], glob)
                   for name, globs in owners.items() for glob in globs), (
            f"{path.relative_to(REPO)} is not package data: the installed tool would lack it")
