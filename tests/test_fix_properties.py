"""Property tests of crawler.fix (issue 18): random front matter, random replacement URLs.

For documents drawn by tests/fix_front_matter_gen.py (random nesting, styles, comments,
line endings, BOM) and random edits of their references (replacements with any string,
including ones YAML needs quoted, and removals of entries), the edited file:

* passes ``git apply --check`` and ``git apply`` as a patch, and the result is the edited bytes;
* reads with the crawler's reader as the old data with only the edited fields changed;
* differs from the old bytes only inside the edited scalars and removed entries' lines.

Only block scalars may be refused, and always are.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from crawler.fix import FileChange, Remove, Replace, edit_document, unified_diff
from crawler.site.sources import read_document
from tests.fix_front_matter_gen import NEEDS_QUOTES, Renderer, data_of, documents, urls
from tests.fix_site import canonical, check_reads_back, load
from tests.git_repo import git

NEW_VALUES = st.one_of(urls(), st.text(st.characters(exclude_categories=("Cs",)), max_size=20),
                       st.sampled_from(NEEDS_QUOTES))
PATHS = ["_posts/a.md", "_posts/déjà vu.md", "pages/with space.md"]


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fix-site")
    assert git(root, "init", "-q").returncode == 0
    return root


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.data_too_large])
@given(document=documents(), choices=st.data())
def test_random_edits_round_trip(repo, document, choices):
    root, layout = document
    rendered = Renderer(layout).render(root)
    body = f"Body line{layout.eol}"
    text = f"---{layout.eol}{rendered.front}---{layout.eol}{body}"
    old = ("\ufeff" if layout.bom else "").encode() + text.encode("utf-8")
    # the drawn data is what the file holds, read the crawler's way
    assert canonical(load(old)[0]) == canonical(data_of(root))

    relative = choices.draw(st.sampled_from(PATHS))
    refs = _front_refs(repo, relative, old)
    edits = []
    for field, value in refs:
        action = choices.draw(st.sampled_from(["keep", "replace", "replace", "remove"]))
        if action == "replace":
            edits.append(Replace(field, value, choices.draw(NEW_VALUES)))
        elif action == "remove" and field in rendered.entries:
            edits.append(Remove(field, value))

    result = edit_document(old, edits)
    for edit in result.applied:
        style = rendered.scalars[edit.field][2]
        in_flow = edit.field in rendered.entries and rendered.entries[edit.field][1]
        event(f"applied {type(edit).__name__} of a {style} scalar{' in flow' if in_flow else ''}")
    event(f"refused: {len(result.refused)}; eol {layout.eol!r}, bom {layout.bom}")

    block = {path for path, (_, _, style) in rendered.scalars.items() if style == "block"}
    assert {(r.edit.field, r.code) for r in result.refused} == {
        (e.field, "block_scalar") for e in edits if e.field in block}
    assert set(result.applied) == {e for e in edits if e.field not in block}
    check_reads_back(old, result.data, result.applied, repo, relative)
    _check_only_spans_changed(old, result.data, rendered, text, layout, result.applied)
    _check_git_apply(repo, relative, old, result.data)


def _front_refs(repo: Path, relative: str, data: bytes) -> list[tuple[str, str]]:
    scratch = repo.parent / f"{repo.name}-refs"
    path = scratch / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    document = read_document(path, scratch)
    assert document is not None and document.error is None, document and document.error
    return [(r.field, r.value) for r in document.refs if r.not_a_string is None]


def _check_only_spans_changed(old: bytes, new: bytes, rendered, text: str, layout, applied) -> None:
    """``new`` is ``old`` with each edited region (a scalar, a removed entry's lines plus the
    indentation after them) replaced by something; nothing else moved or changed."""
    base = len(f"---{layout.eol}")  # where the rendered front matter starts in ``text``
    regions = []
    for edit in applied:
        if isinstance(edit, Replace):
            start, end, _ = rendered.scalars[edit.field]
            start, end = base + start, base + end
        else:
            key_start, _ = rendered.entries[edit.field]
            start = text.rfind("\n", 0, base + key_start) + 1
            line_end = text.find("\n", base + rendered.scalars[edit.field][1])
            end = line_end + len(re.match(r"\n?[ \t]*", text[line_end:]).group(0))
        regions.append((start, end))
    bom = 1 if layout.bom else 0
    regions = [(start + bom, end + bom) for start, end in regions]
    full = ("\ufeff" if layout.bom else "") + text
    pattern, position = b"", 0
    for start, end in sorted(regions):
        pattern += re.escape(full[position:start].encode()) + b"(.*?)"
        position = max(position, end)
    pattern += re.escape(full[position:].encode())
    assert re.fullmatch(pattern, new, re.S), (old, new)


def _check_git_apply(repo: Path, relative: str, old: bytes, new: bytes) -> None:
    path = repo / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(old)
    patch = unified_diff([FileChange(relative, old, new)])
    if old == new:
        assert patch == b""
        return
    check = git(repo, "apply", "--check", "-", stdin=patch)
    assert check.returncode == 0, (check.stderr, patch)
    assert git(repo, "apply", "-", stdin=patch).returncode == 0
    assert path.read_bytes() == new
