"""crawler.fix.unified_diff and crawler.fix.apply (issue 18): patches git applies, atomic writes.

The patch of a change is compared byte for byte with git's own ``git diff`` of the same
change (its ``index`` line aside), and applied with ``git apply`` from the site's root.
"""

from __future__ import annotations

import os
import re
import stat

import pytest

from crawler.fix import FileChange, StaleFile, apply_changes, unified_diff, write_atomically
from crawler.fix.unified_diff import quote_path, split_lines
from tests.git_repo import git

LINES = [f"line {i}\n".encode() for i in range(1, 21)]


def numbered(*replaced: tuple[int, bytes], crlf: bool = False, last_newline: bool = True,
             drop: tuple[int, ...] = ()) -> bytes:
    lines = list(LINES)
    for index, line in replaced:
        lines[index] = line
    lines = [line for i, line in enumerate(lines) if i not in drop]
    data = b"".join(lines)
    if crlf:
        data = data.replace(b"\n", b"\r\n")
    return data if last_newline else data.rstrip(b"\r\n")


CASES = {
    "middle": (numbered(), numbered((9, b"changed\n"))),
    "first line": (numbered(), numbered((0, b"changed\n"))),
    "last line": (numbered(), numbered((19, b"changed\n"))),
    "two hunks": (numbered(), numbered((2, b"a\n"), (16, b"b\n"))),
    "close changes, one hunk": (numbered(), numbered((5, b"a\n"), (11, b"b\n"))),
    "removed lines": (numbered(), numbered(drop=(7, 8))),
    "crlf": (numbered(crlf=True), numbered((9, b"changed\n"), crlf=True)),
    "no newline at end, both": (numbered(last_newline=False), numbered((19, b"changed"), last_newline=False)),
    "no newline at end, kept as context": (numbered(last_newline=False), numbered((17, b"x\n"), last_newline=False)),
    "newline added at end": (numbered(last_newline=False), numbered()),
    "newline removed at end": (numbered(), numbered(last_newline=False)),
    "crlf without newline at end": (numbered(crlf=True, last_newline=False),
                                    numbered((19, b"changed"), crlf=True, last_newline=False)),
    "non-ascii": ("é\n".encode() * 3 + "ça\n".encode(), "é\n".encode() * 3 + "ço\n".encode()),
    "one line file": (b"only", b"other"),
}
PATHS = ["_posts/a.md", "with space/b c.md", "_posts/déjà vu.md", 'q"uote.md', "back\\slash.md",
         "tab\there.md", "new\nline.md"]


def git_diff(tmp_path, path: str, old: bytes, new: bytes) -> bytes:
    """git's own patch of the change, without its ``index`` line and the function-name
    context git writes after a hunk's ``@@`` (``git apply`` ignores it; we write none)."""
    root = tmp_path / "git"
    (root / path).parent.mkdir(parents=True, exist_ok=True)
    (root / path).write_bytes(old)
    assert git(root, "init", "-q").returncode == 0
    assert git(root, "add", "-A").returncode == 0
    (root / path).write_bytes(new)
    diff = git(root, "diff").stdout
    lines = [re.sub(rb"^(@@ [^@]* @@).*\n", rb"\1\n", line)
             for line in diff.splitlines(keepends=True) if not line.startswith(b"index ")]
    return b"".join(lines)


@pytest.mark.parametrize("case", CASES)
def test_patch_is_gits_own_and_applies(tmp_path, case):
    old, new = CASES[case]
    patch = unified_diff([FileChange("_posts/a.md", old, new)])
    assert patch == git_diff(tmp_path, "_posts/a.md", old, new)
    root = tmp_path / "site"
    (root / "_posts").mkdir(parents=True)
    (root / "_posts/a.md").write_bytes(old)
    assert git(root, "init", "-q").returncode == 0
    assert git(root, "apply", "--check", "-", stdin=patch).returncode == 0
    assert git(root, "apply", "-", stdin=patch).returncode == 0
    assert (root / "_posts/a.md").read_bytes() == new


@pytest.mark.parametrize("path", PATHS)
def test_paths_are_written_as_git_writes_them(tmp_path, path):
    old, new = CASES["middle"]
    patch = unified_diff([FileChange(path, old, new)])
    assert patch == git_diff(tmp_path, path, old, new)
    root = tmp_path / "site"
    (root / path).parent.mkdir(parents=True, exist_ok=True)
    (root / path).write_bytes(old)
    assert git(root, "init", "-q").returncode == 0
    result = git(root, "apply", "-", stdin=patch)
    assert result.returncode == 0, result.stderr
    assert (root / path).read_bytes() == new


def test_several_files_in_one_patch(tmp_path):
    changes = [FileChange(f"d/{name}.md", *CASES[case]) for name, case in
               [("a", "middle"), ("b", "crlf"), ("c", "no newline at end, both")]]
    changes.append(FileChange("d/unchanged.md", b"same\n", b"same\n"))
    patch = unified_diff(changes)
    assert patch.count(b"diff --git ") == 3 and b"unchanged" not in patch
    root = tmp_path / "site"
    (root / "d").mkdir(parents=True)
    for change in changes:
        (root / change.path).write_bytes(change.old)
    assert git(root, "init", "-q").returncode == 0
    assert git(root, "apply", "-", stdin=patch).returncode == 0
    assert all((root / c.path).read_bytes() == c.new for c in changes)


@pytest.mark.parametrize("path", ["/etc/passwd", "../outside.md", "a/../b.md", "./a.md", "a//b.md", ""])
def test_paths_outside_the_root_are_refused(path):
    with pytest.raises(ValueError, match="relative to the site root"):
        unified_diff([FileChange(path, b"a\n", b"b\n")])


def test_binary_files_are_refused():
    with pytest.raises(ValueError, match="NUL"):
        unified_diff([FileChange("a.md", b"a\0\n", b"b\n")])


def test_split_lines_and_quote_path():
    assert split_lines(b"a\r\nb\rc\nd") == [b"a\r\n", b"b\rc\n", b"d"]
    assert split_lines(b"") == [] and split_lines(b"\n") == [b"\n"]
    assert quote_path("a/é\t\"\\\x7f.md".encode()) == b'"a/\\303\\251\\t\\"\\\\\\177.md"'
    assert quote_path(b"a/b c.md") == b"a/b c.md"


# -- writing in place -----------------------------------------------------------------

def test_apply_changes_keeps_modes_and_leaves_no_temporary_file(tmp_path):
    (tmp_path / "_posts").mkdir()
    for name, mode in [("a.md", 0o640), ("b.md", 0o755)]:
        path = tmp_path / "_posts" / name
        path.write_bytes(b"old\n")
        path.chmod(mode)
    written = apply_changes(tmp_path, [FileChange("_posts/a.md", b"old\n", b"new a\n"),
                                       FileChange("_posts/b.md", b"old\n", b"new b\n")])
    assert written == ["_posts/a.md", "_posts/b.md"]
    assert (tmp_path / "_posts/a.md").read_bytes() == b"new a\n"
    assert stat.S_IMODE((tmp_path / "_posts/a.md").stat().st_mode) == 0o640
    assert stat.S_IMODE((tmp_path / "_posts/b.md").stat().st_mode) == 0o755
    assert sorted(p.name for p in (tmp_path / "_posts").iterdir()) == ["a.md", "b.md"]


def test_apply_changes_writes_nothing_when_one_file_changed_meanwhile(tmp_path):
    (tmp_path / "a.md").write_bytes(b"old\n")
    (tmp_path / "b.md").write_bytes(b"edited by someone\n")
    with pytest.raises(StaleFile, match=r"b\.md: changed since"):
        apply_changes(tmp_path, [FileChange("a.md", b"old\n", b"new\n"), FileChange("b.md", b"old\n", b"new\n")])
    assert (tmp_path / "a.md").read_bytes() == b"old\n"


def test_apply_changes_does_not_write_through_symbolic_links(tmp_path):
    (tmp_path / "real.md").write_bytes(b"old\n")
    (tmp_path / "link.md").symlink_to("real.md")
    with pytest.raises(StaleFile, match="symbolic link"):
        apply_changes(tmp_path, [FileChange("link.md", b"old\n", b"new\n")])
    assert (tmp_path / "link.md").is_symlink() and (tmp_path / "real.md").read_bytes() == b"old\n"
    with pytest.raises(ValueError):
        apply_changes(tmp_path, [FileChange("../real.md", b"old\n", b"new\n")])


def test_write_atomically_new_file_gets_the_umask_mode(tmp_path):
    umask = os.umask(0o027)
    try:
        write_atomically(tmp_path / "new.md", b"x")
    finally:
        os.umask(umask)
    assert (tmp_path / "new.md").read_bytes() == b"x"
    assert stat.S_IMODE((tmp_path / "new.md").stat().st_mode) == 0o640


def test_write_atomically_cleans_up_when_the_rename_fails(tmp_path):
    (tmp_path / "dir.md").mkdir()  # a directory: os.replace of a file over it fails
    with pytest.raises(OSError):
        write_atomically(tmp_path / "dir.md", b"x")
    assert [p.name for p in tmp_path.iterdir()] == ["dir.md"]
