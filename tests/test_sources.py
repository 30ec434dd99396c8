"""crawler.site.sources: reading a front-matter site tree, one Document per file, never raising."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from crawler.site.sources import (
    iter_document_paths,
    iter_documents,
    read_document,
    read_site_config,
)


def write(root: Path, relative: str, text: str | bytes) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def doc(root: Path, relative: str, text: str | bytes, body_links: bool = False):
    return read_document(write(root, relative, text), root, body_links)


def relative_paths(root: Path) -> list[str]:
    return [p.relative_to(root).as_posix() for p in iter_document_paths(root)]


# -- good documents --------------------------------------------------------------

def test_good_document(tmp_path):
    document = doc(tmp_path, "_news/2020-01-02-hello.md", (
        "---\n"
        "title: Hello\n"
        "publishedDateTime: '2021-03-04T05:06:07Z'\n"
        "originalUrl: https://a.com/x\n"
        "provider:\n"
        "  images:\n"
        "    - url: /logo.png\n"
        "---\n"
        "Body text\n"
    ))
    assert document.path == "_news/2020-01-02-hello.md"
    assert document.collection == "news"
    assert document.title == "Hello"
    assert document.published == "2021-03-04T05:06:07Z"
    assert document.error is None and document.error_line is None
    assert [(r.field, r.value, r.kind) for r in document.refs] == [
        ("originalUrl", "https://a.com/x", "page"),
        ("provider.images[0].url", "/logo.png", "image"),
    ]


def test_published_from_yaml_timestamp(tmp_path):
    document = doc(tmp_path, "_news/a.md",
                   "---\ntitle: A\npublishedDateTime: 2021-03-04T05:06:07Z\n---\n")
    assert document.published == "2021-03-04T05:06:07+00:00"


def test_published_from_filename_date_when_absent(tmp_path):
    document = doc(tmp_path, "_posts/2019-12-31-new-year.md", "---\ntitle: NY\n---\nhi\n")
    assert document.collection == "posts"
    assert document.published == "2019-12-31"
    assert doc(tmp_path, "about.md", "---\ntitle: About\n---\n").published is None


def test_collection_only_for_underscore_directories(tmp_path):
    assert doc(tmp_path, "about.md", "---\ntitle: x\n---\n").collection is None
    assert doc(tmp_path, "blog/x.md", "---\ntitle: x\n---\n").collection is None
    assert doc(tmp_path, "_news/sub/x.md", "---\ntitle: x\n---\n").collection == "news"


def test_empty_front_matter_is_a_document_without_refs(tmp_path):
    document = doc(tmp_path, "e.md", "---\n---\nbody\n")
    assert document is not None
    assert document.error is None and document.refs == []


def test_body_links_have_file_line_numbers(tmp_path):
    document = doc(tmp_path, "b.md", (
        "---\n"                                   # 1
        "title: B\n"                              # 2
        "---\n"                                   # 3
        "\n"                                      # 4
        "[a](https://a.com/)\n"                   # 5
        "text\n"                                  # 6
        '<img src="/pic.png">\n'                  # 7
    ), body_links=True)
    assert [(r.field, r.value, r.kind) for r in document.refs] == [
        ("body:line 5", "https://a.com/", "page"),
        ("body:line 7", "/pic.png", "image"),
    ]
    assert doc(tmp_path, "c.md", "---\ntitle: C\n---\n[a](https://a.com/)\n").refs == []


# -- bad documents ----------------------------------------------------------------

def test_malformed_yaml_reports_error_and_line(tmp_path):
    document = doc(tmp_path, "bad.md", "---\ntitle: x\nfoo: bar: baz\nother: y\n---\nbody\n")
    assert document.error.startswith("invalid YAML front matter")
    assert "mapping values are not allowed" in document.error
    assert document.title is None and document.refs == []
    assert isinstance(document.error_line, int)


def test_malformed_yaml_error_line_is_the_real_line(tmp_path):
    text = "---\ntitle: x\nfoo: bar: baz\nother: y\n---\nbody\n"
    assert text.splitlines()[2] == "foo: bar: baz"  # line 3 of the file
    assert doc(tmp_path, "bad.md", text).error_line == 3
    # blank lines right after the opening '---' must not shift the line either
    spaced = "---\n\n\ntitle: x\nfoo: bar: baz\n---\n"
    assert spaced.splitlines()[4] == "foo: bar: baz"  # line 5
    assert doc(tmp_path, "spaced.md", spaced).error_line == 5


def test_front_matter_list_is_not_a_mapping(tmp_path):
    document = doc(tmp_path, "list.md", "---\n- a\n- b\n---\nbody\n")
    assert "not a mapping" in document.error
    assert document.refs == []


def test_unclosed_front_matter(tmp_path):
    document = doc(tmp_path, "open.md", "---\ntitle: x\nurl: https://a.com\nno closing line\n")
    assert document.error.startswith("front matter is not closed")
    assert document.refs == []


def test_impossible_date_is_not_reported_as_unclosed(tmp_path):
    document = doc(tmp_path, "date.md", "---\ntitle: x\ndate: 2020-02-30\n---\nbody\n")
    assert document.error is not None
    assert "not closed" not in document.error


def test_recursive_yaml_alias_does_not_raise(tmp_path):
    text = "---\ntitle: x\nrelated: &r\n  - url: https://a.com/\n  - *r\n---\n"
    document = doc(tmp_path, "loop.md", text)
    assert document is not None


def test_invalid_utf8_mentions_byte_and_line(tmp_path):
    data = b"---\ntitle: x\nexcerpt: caf\xe9\n---\n"
    document = doc(tmp_path, "latin1.md", data)
    assert document.error == f"invalid UTF-8 at byte {data.index(0xE9)} (line 3)"
    assert document.collection is None and document.refs == []


def test_utf8_bom_is_accepted(tmp_path):
    document = doc(tmp_path, "bom.md", "\ufeff---\ntitle: Bom\n---\n")
    assert document.error is None and document.title == "Bom"


def test_dangling_symlink_cannot_be_read(tmp_path):
    link = tmp_path / "_news" / "gone.md"
    link.parent.mkdir()
    link.symlink_to(tmp_path / "does-not-exist.md")
    document = read_document(link, tmp_path)
    assert document.path == "_news/gone.md"
    assert document.collection == "news"
    assert document.error.startswith("cannot read file")
    documents = list(iter_documents(tmp_path))
    assert [(d.path, d.error is not None) for d in documents] == [("_news/gone.md", True)]


def test_file_without_front_matter_is_skipped(tmp_path):
    assert doc(tmp_path, "plain.md", "# Just markdown\n\n[a](https://a.com)\n") is None
    assert doc(tmp_path, "late.md", "\n---\ntitle: x\n---\n") is None
    assert list(iter_documents(tmp_path)) == []


# -- walking the tree ---------------------------------------------------------------

def make_tree(root: Path) -> None:
    front = "---\ntitle: t\n---\n"
    for relative in (
        "z.md", "a.markdown", "index.html", "B.MD",
        "_news/2.md", "_news/1.md", "_news/sub/x.md", "_posts/p.md",
        "notes.txt", "_data/nav.yml", "_config.yml",
        "_site/built.md", ".git/x.md", "node_modules/pkg/readme.md", "vendor/v.md",
        ".hidden/h.md", "_news/.cache/c.md",
    ):
        write(root, relative, front if relative.endswith((".md", ".MD", ".markdown", ".html"))
              else "title: t\n")


def test_iter_document_paths_visits_documents_only_in_stable_order(tmp_path):
    make_tree(tmp_path)
    expected = [
        "B.MD", "a.markdown", "index.html", "z.md",
        "_news/1.md", "_news/2.md", "_news/sub/x.md",
        "_posts/p.md",
    ]
    assert relative_paths(tmp_path) == expected
    assert relative_paths(tmp_path) == expected  # same order every time
    assert [d.path for d in iter_documents(tmp_path)] == expected


def test_iter_document_paths_is_lazy(tmp_path):
    for index in range(50):
        write(tmp_path, f"d{index // 10}/f{index}.md", "---\ntitle: x\n---\n")
    paths = iter_document_paths(tmp_path)
    assert isinstance(paths, Iterator)
    assert not isinstance(paths, list | tuple)
    first = next(paths)
    assert first.relative_to(tmp_path).as_posix() == "d0/f0.md"
    documents = iter_documents(tmp_path)
    assert isinstance(documents, Iterator)
    assert next(documents).path == "d0/f0.md"


# -- _config.yml ------------------------------------------------------------------------

@pytest.mark.parametrize(("config", "base_url"), [
    ("url: https://example.org\n", "https://example.org"),
    ("url: https://example.org/\n", "https://example.org"),
    ("url: https://example.org\nbaseurl: /blog\n", "https://example.org/blog"),
    ("url: https://example.org/\nbaseurl: /blog/\n", "https://example.org/blog"),
    ("url: https://example.org\nbaseurl: blog\n", "https://example.org/blog"),
    ("url: https://example.org\nbaseurl: ''\n", "https://example.org"),
    ("url: https://example.org\nbaseurl: /\n", "https://example.org"),
    ("url: https://example.org\nbaseurl: /a/b/\n", "https://example.org/a/b"),
    ("title: no url\n", None),
])
def test_site_config_base_url(tmp_path, config, base_url):
    write(tmp_path, "_config.yml", config)
    result = read_site_config(tmp_path)
    assert result.base_url == base_url
    assert result.error is None


def test_missing_site_config(tmp_path):
    result = read_site_config(tmp_path)
    assert (result.base_url, result.error) == (None, None)


def test_broken_site_config_is_reported(tmp_path):
    write(tmp_path, "_config.yml", "url: https://example.org\nbaseurl: [unclosed\n")
    result = read_site_config(tmp_path)
    assert result.base_url is None
    assert result.error is not None and result.error.startswith("_config.yml:")


def test_site_config_invalid_utf8_is_reported(tmp_path):
    write(tmp_path, "_config.yml", b"url: https://example.org\ntitle: caf\xe9\n")
    result = read_site_config(tmp_path)
    assert result.base_url is None and result.error.startswith("_config.yml:")


def test_walk_does_not_follow_directory_symlinks(tmp_path):
    site = tmp_path / "site"
    write(site, "a.md", "---\ntitle: a\n---\n")
    write(tmp_path, "outside/secret.md", "---\ntitle: s\n---\n")
    os.symlink(tmp_path / "outside", site / "linked")
    os.symlink(site, site / "loop")
    # The links are listed, never entered: reading them records why (issue 16).
    assert relative_paths(site) == ["a.md", "linked", "loop"]
    documents = {d.path: d.error for d in iter_documents(site)}
    assert documents == {"a.md": None,
                         "linked": "a symbolic link to outside the site: not read "
                                   "(LINKHEALTH_FOLLOW_SYMLINKS=1 reads it)",
                         "loop": "a symbolic link to a directory: not followed "
                                 "(LINKHEALTH_FOLLOW_SYMLINKS=1 follows it)"}


def test_following_links_enters_each_directory_once_real_paths_first(tmp_path):
    site = tmp_path / "site"
    write(site, "real/x.md", "---\ntitle: x\n---\n")
    write(tmp_path, "outside/o.md", "---\ntitle: o\n---\n")
    os.symlink(site / "real", site / "alias")          # listed before real/, entered never
    os.symlink(site, site / "real" / "up")             # a loop back to the root
    os.symlink(tmp_path / "outside", site / "a-out")   # outside: entered once, after the tree
    os.symlink(tmp_path / "outside", site / "real" / "again")
    paths = [p.relative_to(site).as_posix() for p in iter_document_paths(site, True)]
    assert paths == ["real/x.md", "a-out/o.md"]
