"""The structure holds: packages import only the layers below them, no module imports itself
back through others, and private Scrapy or Twisted names are imported in one place only.

The layers are declared once, in ``pyproject.toml`` (``[tool.importlinter]``), and drawn in
``crawler/__init__.py``; ``lint-imports`` checks them (CI runs it too).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("crawler", "spiders")
COMPAT = REPO / "crawler" / "core" / "compat.py"


@pytest.mark.e2e
def test_every_package_imports_only_the_layers_below_it():
    lint = Path(sys.executable).parent / "lint-imports"
    done = subprocess.run([str(lint), "--no-cache"], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "Contracts: 1 kept, 0 broken." in done.stdout


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    sys.path.insert(0, str(REPO))
    try:
        return grimp.build_graph(*PACKAGES, cache_dir=None)
    finally:
        sys.path.remove(str(REPO))


def test_no_module_imports_itself_back(graph):
    """No cycle, also through an import made inside a function (the report's renderers had
    one, kept from failing only by such a lazy import)."""
    cycles = []
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            back = graph.find_shortest_chain(importer=imported, imported=importer)
            if back is not None:
                cycles.append(" -> ".join((importer, *back)))
    assert cycles == []


def private_imports(path: Path) -> list[str]:
    """``from a._b import c`` and ``from a import _c`` of another library, in one file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            if node.module.split(".")[0] in PACKAGES or node.module == "__future__":
                continue
            private_module = any(part.startswith("_") for part in node.module.split("."))
            private_names = [a.name for a in node.names if a.name.startswith("_")]
            if private_module or private_names:
                found.append(f"{path.relative_to(REPO)}:{node.lineno} {node.module}")
        elif isinstance(node, ast.Import):
            found += [f"{path.relative_to(REPO)}:{node.lineno} {a.name}" for a in node.names
                      if any(part.startswith("_") for part in a.name.split("."))]
    return found


def test_private_scrapy_and_twisted_names_are_imported_in_crawler_core_compat_only():
    found = [hit for package in PACKAGES for path in sorted((REPO / package).rglob("*.py"))
             if path != COMPAT for hit in private_imports(path)]
    assert found == []
    assert private_imports(COMPAT)  # the test would see one: compat has them


def test_every_package_says_what_it_owns_and_what_it_may_import():
    packages = [p for p in (REPO / "crawler").iterdir() if (p / "__init__.py").is_file()]
    assert len(packages) >= 12
    for package in packages:
        doc = ast.get_docstring(ast.parse((package / "__init__.py").read_text())) or ""
        assert "May import" in doc, package
