"""A site in a real git repository, for the tests of crawler.fix: edit, diff, git apply, read back.

``Site.fix`` runs the whole chain the fix command will: ``edit_document`` on each file,
``unified_diff`` of the results, ``git apply --check`` then ``git apply`` from the site's
root. Then it checks, with the crawler's own reader and independently of crawler.fix's
proofs, that each file reads back to the old data with only the edited fields changed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from crawler.fix import EditResult, FileChange, Remove, Replace, edit_document, unified_diff
from crawler.site.bounded_yaml import BoundedSafeLoader
from crawler.site.references import front_matter_references
from crawler.site.sources import _YAML, read_document
from tests.git_repo import git


class Site:
    """Files under ``root``, committed to a fresh git repository."""

    def __init__(self, root: Path, files: Mapping[str, bytes | str]) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        for relative, content in files.items():
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
        assert git(root, "init", "-q").returncode == 0
        assert git(root, "add", "-A").returncode == 0
        assert git(root, "commit", "-qm", "site").returncode == 0

    def read(self, relative: str) -> bytes:
        return (self.root / relative).read_bytes()

    def apply(self, patch: bytes) -> None:
        """``git apply --check`` then ``git apply``, from the root; both must succeed."""
        check = git(self.root, "apply", "--check", "-", stdin=patch)
        assert check.returncode == 0, check.stderr.decode()
        applied = git(self.root, "apply", "-", stdin=patch)
        assert applied.returncode == 0, applied.stderr.decode()

    def fix(self, edits: Mapping[str, Sequence[Replace | Remove]],
            refused: Mapping[str, Sequence[str]] | None = None) -> dict[str, EditResult]:
        """Edit, diff, apply; check every file against the reader. ``refused``: the fields
        expected to be refused, per file (none by default)."""
        before = {path: self.read(path) for path in edits}
        results = {path: edit_document(before[path], file_edits) for path, file_edits in edits.items()}
        for path, result in results.items():
            assert sorted(r.edit.field for r in result.refused) == sorted((refused or {}).get(path, [])), \
                [str(r) for r in result.refused]
        patch = unified_diff(FileChange(p, before[p], r.data) for p, r in results.items())
        self.apply(patch)
        for path, result in results.items():
            assert self.read(path) == result.data
            check_reads_back(before[path], result.data, result.applied, self.root, path)
        return results


def check_reads_back(old: bytes, new: bytes, applied: Sequence[Replace | Remove], root: Path,
                     relative: str) -> None:
    """The new file reads, with the crawler's reader, as the old one with ``applied`` made:
    same data (types included) but for those fields, same references but for those."""
    replaced = {e.field: e.new for e in applied if isinstance(e, Replace)}
    removed = {e.field for e in applied if isinstance(e, Remove)}
    old_data, old_body = load(old)
    new_data, new_body = load(new)
    expected = _edited(old_data, "", {k: v for k, v in replaced.items() if not k.startswith("body:")},
                       removed)
    assert canonical(new_data) == canonical(expected)
    shift = new.count(b"\n") - old.count(b"\n")
    refs_before = _refs(old, root, relative)
    refs_after = _refs(new, root, relative)
    new_values = {(e.field, e.old): e.new for e in applied if isinstance(e, Replace)}
    # front matter: what the reader's rules find in the expected data (a value that is no
    # longer a URL outside a URL field is no reference); body: the same links, edited, shifted
    expected_refs = [(r.field, r.value, r.kind) for r in front_matter_references(expected)] + [
        (_shifted(f, shift), new_values.get((f, v), v), kind)
        for f, v, kind in refs_before if f.startswith("body:")]
    assert refs_after == expected_refs
    if not any(field.startswith("body:") for field in replaced):
        assert new_body == old_body


def load(data: bytes) -> tuple[Any, str]:
    """Front matter data and body, split and loaded as crawler.site.sources does."""
    text = data.decode("utf-8").removeprefix("\ufeff")
    assert _YAML.detect(text)
    front, body = _YAML.split(text)
    return yaml.load(front, Loader=BoundedSafeLoader), body


def canonical(value: Any) -> Any:
    """A structure whose == is type-strict (``1 != True != 1.0``) and takes NaN as NaN."""
    if isinstance(value, dict):
        return ("dict", [(canonical(k), canonical(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("list", [canonical(v) for v in value])
    if isinstance(value, float) and math.isnan(value):
        return ("nan",)
    return (type(value).__name__, value)


def _edited(value: Any, path: str, replaced: Mapping[str, str], removed: set[str]) -> Any:
    if path in replaced:
        return replaced[path]
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            if child not in removed:
                out[key] = _edited(item, child, replaced, removed)
        return out
    if isinstance(value, list):
        return [_edited(item, f"{path}[{i}]", replaced, removed) for i, item in enumerate(value)]
    return value


def _refs(data: bytes, root: Path, relative: str) -> list[tuple[str, str, str]]:
    """The references the crawler records for these bytes (body links on)."""
    scratch = root.parent / f"{root.name}-reread"
    path = scratch / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    document = read_document(path, scratch, body_links=True)
    assert document is not None and document.error is None, document and document.error
    return [(r.field, r.value, r.kind) for r in document.refs]


def _shifted(field: str, shift: int) -> str:
    if not field.startswith("body:line "):
        return field
    return f"body:line {int(field.rsplit(' ', 1)[1]) + shift}"
