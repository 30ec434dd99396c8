"""crawler.fix.edit_document (issue 18): front-matter and body edits, byte-exact, through git apply.

Every case runs the whole chain on a real git repository of the site (tests/fix_site.py):
edit, unified diff, ``git apply --check``, ``git apply``; then the file must read, with the
crawler's own reader, as before but for the edited fields, and be byte for byte the
expected text.
"""

from __future__ import annotations

import pytest

from crawler.fix import EditRefused, Remove, Replace, edit_document, replace_in_body
from crawler.fix.document_edit import _Splice, _without_overlaps
from tests.fix_site import Site

OLD = "https://old.example/a"
NEW = "https://new.example/b"


def fix_one(tmp_path, text: str | bytes, edits, expected: str | bytes | None = None,
            refused=()) -> bytes:
    """One file through the chain; its new bytes (checked against ``expected``)."""
    site = Site(tmp_path / "site", {"_posts/a.md": text})
    result = site.fix({"_posts/a.md": edits}, {"_posts/a.md": list(refused)})
    if expected is not None:
        want = expected.encode("utf-8") if isinstance(expected, str) else expected
        assert result["_posts/a.md"].data == want
    return result["_posts/a.md"].data


def doc(front: str, body: str = "Body.\n") -> str:
    return f"---\n{front}---\n{body}"


# -- quoting styles ----------------------------------------------------------------------

def test_plain_stays_plain_and_comments_stay(tmp_path):
    text = doc("# a comment line\n"
               "title: Hello  # on the line\n"
               f"originalUrl: {OLD}   # the source\n"
               "\n"
               "# between entries\n"
               "webUrl: https://site.example/x\n")
    fix_one(tmp_path, text, [Replace("originalUrl", OLD, NEW)], text.replace(OLD, NEW))


@pytest.mark.parametrize(("new", "written"), [
    ("https://n.example/a: b", '"https://n.example/a: b"'),
    ("https://n.example/a #b", '"https://n.example/a #b"'),
    ("*star", '"*star"'), ("&amp", '"&amp"'), ("!bang", '"!bang"'), ("%pct", '"%pct"'),
    ("@at", '"@at"'), ("`tick", '"`tick"'), ("[x", '"[x"'), ("{x", '"{x"'), ("- x", '"- x"'),
    ("? x", '"? x"'), ("true", '"true"'), ("null", '"null"'), ("~", '"~"'), ("1.5", '"1.5"'),
    ("0x1F", '"0x1F"'), ("2020-01-02", '"2020-01-02"'), ("<<", '"<<"'), ("trailing ", '"trailing "'),
    (" leading", '" leading"'), ("ends:", '"ends:"'), ("", '""'), ("tab\there", '"tab\\there"'),
    ('q"uote\\back', 'q"uote\\back'), ('"q', '"\\"q"'), ("line\nbreak", '"line\\nbreak"'),
    ("bell\x07nul\x00", '"bell\\anul\\0"'), ("it's", "it's"),
    ("https://a.example/a,b[1]{2}?q=1&r=2#frag", "https://a.example/a,b[1]{2}?q=1&r=2#frag"),
    ("https://a.example//double//slash/%2C?x=a%2Cb#f:g", "https://a.example//double//slash/%2C?x=a%2Cb#f:g"),
    ("https://ünï.example/café", "https://ünï.example/café"),
])
def test_plain_is_quoted_only_where_yaml_needs_it(tmp_path, new, written):
    text = doc(f"title: T\noriginalUrl: {OLD} # c\nwebUrl: https://k.example/\n")
    expected = text.replace(f"originalUrl: {OLD}", f"originalUrl: {written}")
    fix_one(tmp_path, text, [Replace("originalUrl", OLD, new)], expected)


@pytest.mark.parametrize(("new", "written"), [
    (NEW, f"'{NEW}'"),
    ("https://n.example/it's", "'https://n.example/it''s'"),
    ("a: b #c", "'a: b #c'"),
    ("line\nbreak", '"line\\nbreak"'),      # single quotes cannot escape: double quotes
    ("nel\x85ctl\x1b", '"nel\\Nctl\\e"'),
])
def test_single_quoted_stays_single_quoted(tmp_path, new, written):
    text = doc(f"originalUrl: '{OLD}'\n")
    fix_one(tmp_path, text, [Replace("originalUrl", OLD, new)], doc(f"originalUrl: {written}\n"))


@pytest.mark.parametrize(("new", "written"), [
    (NEW, f'"{NEW}"'),
    ('say "hi"\\', '"say \\"hi\\"\\\\"'),
    ("\u2028\ufeff\x7f\U0001F600é", '"\\L\\uFEFF\\x7F\U0001F600é"'),
])
def test_double_quoted_stays_double_quoted(tmp_path, new, written):
    text = doc(f'originalUrl: "{OLD}"\n')
    fix_one(tmp_path, text, [Replace("originalUrl", OLD, new)], doc(f"originalUrl: {written}\n"))


def test_escaped_old_value_is_matched_by_its_value(tmp_path):
    text = doc('originalUrl: "https://old.example/\\x61"\n')
    fix_one(tmp_path, text, [Replace("originalUrl", OLD, NEW)], doc(f'originalUrl: "{NEW}"\n'))


def test_anchor_and_tag_are_kept(tmp_path):
    text = doc(f"originalUrl: &src {OLD}\nwebUrl: !!str https://w.example/1\n")
    expected = doc(f"originalUrl: &src {NEW}\nwebUrl: !!str \"true\"\n")
    fix_one(tmp_path, text, [Replace("originalUrl", OLD, NEW),
                             Replace("webUrl", "https://w.example/1", "true")], expected)


# -- flow and block collections ---------------------------------------------------------

def test_flow_sequences_and_mappings(tmp_path):
    text = doc("images: [{url: https://i.example/1.jpg, caption: one}, {url: 'https://i.example/2.jpg'}]\n"
               "links: [https://l.example/1, \"https://l.example/2\"]\n")
    edits = [Replace("images[0].url", "https://i.example/1.jpg", "https://w.example/a,b"),
             Replace("images[1].url", "https://i.example/2.jpg", "https://w.example/[2]"),
             Replace("links[0]", "https://l.example/1", "https://w.example/x?y=1"),
             Replace("links[1]", "https://l.example/2", "https://w.example/{z}")]
    expected = doc("images: [{url: \"https://w.example/a,b\", caption: one}, {url: 'https://w.example/[2]'}]\n"
                   "links: [\"https://w.example/x?y=1\", \"https://w.example/{z}\"]\n")
    fix_one(tmp_path, text, edits, expected)


def test_flow_collection_over_several_lines_with_comments(tmp_path):
    text = doc("images: [\n"
               "  {url: https://i.example/1.jpg},  # first\n"
               "  # the second\n"
               "  {url: https://i.example/2.jpg}\n"
               "]\n")
    edits = [Replace("images[1].url", "https://i.example/2.jpg", NEW)]
    fix_one(tmp_path, text, edits, text.replace("https://i.example/2.jpg", NEW))


def test_block_sequences_indented_or_not(tmp_path):
    text = doc("images:\n- url: https://i.example/1.jpg\nprovider:\n  images:\n    -   url: https://i.example/2.jpg\n")
    edits = [Replace("images[0].url", "https://i.example/1.jpg", "x: y"),
             Replace("provider.images[0].url", "https://i.example/2.jpg", NEW)]
    expected = doc("images:\n- url: \"x: y\"\nprovider:\n  images:\n    -   url: https://new.example/b\n")
    fix_one(tmp_path, text, edits, expected)


def test_nested_related_images(tmp_path):
    related = "".join(
        f"  - webUrl: https://r.example/{i}\n"
        f"    images:\n"
        + "".join(f"      - url: https://i.example/{i}/{j}.jpg\n        width: {j}\n" for j in range(3))
        for i in range(4))
    text = doc(f"title: Nested\nrelated:\n{related}provider:\n  name: P\n  images:\n    - url: https://i.example/p.png\n")
    edits = [Replace("related[2].images[1].url", "https://i.example/2/1.jpg", NEW),
             Replace("related[3].images[2].url", "https://i.example/3/2.jpg", "https://w.example/a #b"),
             Replace("provider.images[0].url", "https://i.example/p.png", "/assets/p.png")]
    expected = (text.replace("https://i.example/2/1.jpg", NEW)
                .replace("https://i.example/3/2.jpg", '"https://w.example/a #b"')
                .replace("https://i.example/p.png", "/assets/p.png"))
    fix_one(tmp_path, text, edits, expected)


# -- bytes kept: line endings, BOM, non-ASCII --------------------------------------------

def test_crlf_bom_and_non_ascii_are_kept(tmp_path):
    text = ("\ufeff---\r\ntitle: Café — “quoted” 😀\r\noriginalUrl: https://old.example/é  # ça\r\n"
            "related:\r\n  - webUrl: 'https://old.example/é'\r\n---\r\nCorps [lien](https://old.example/é).\r\n")
    data = text.encode("utf-8")
    edits = [Replace("originalUrl", "https://old.example/é", "https://nouveau.example/ç"),
             Replace("related[0].webUrl", "https://old.example/é", "https://nouveau.example/ç"),
             Replace("body:line 7", "https://old.example/é", "https://nouveau.example/ç")]
    expected = data.replace("https://old.example/é".encode(), "https://nouveau.example/ç".encode())
    assert fix_one(tmp_path, data, edits, expected).startswith(b"\xef\xbb\xbf---\r\n")


def test_crlf_file_without_final_newline(tmp_path):
    data = f"---\r\noriginalUrl: {OLD}\r\n---\r\nno newline at the end".encode()
    fix_one(tmp_path, data, [Replace("originalUrl", OLD, NEW)], data.replace(OLD.encode(), NEW.encode()))


# -- one URL, many fields and files ------------------------------------------------------

def test_one_url_in_forty_articles_and_several_fields(tmp_path):
    """A permanent redirect: the same URL in ``related[3].webUrl`` of forty articles, plus
    ``originalUrl`` and an image of one of them; one patch, applied by git."""
    moved, target = "https://moved.example/story?id=1&x=%2C#top", "https://moved.example/story/1"
    files, edits = {}, {}
    for n in range(40):
        related = "".join(f"  - webUrl: https://r.example/{n}/{i}\n" for i in range(3))
        front = (f"title: Article {n}\n"
                 + (f"originalUrl: {moved}\nimages:\n  - url: '{moved}'\n" if n == 7 else "")
                 + f"related:\n{related}  - webUrl: {moved}  # moved\n    title: Moved\n")
        files[f"_posts/2020-01-{n:02d}-a.md"] = doc(front, f"Article {n}.\n")
        edits[f"_posts/2020-01-{n:02d}-a.md"] = [Replace("related[3].webUrl", moved, target)]
    edits["_posts/2020-01-07-a.md"] += [Replace("originalUrl", moved, target),
                                        Replace("images[0].url", moved, target)]
    site = Site(tmp_path / "site", files)
    results = site.fix(edits)
    assert all(r.changed for r in results.values())
    assert site.read("_posts/2020-01-07-a.md").count(target.encode()) == 3
    assert b"webUrl: https://moved.example/story/1  # moved" in site.read("_posts/2020-01-39-a.md")


def test_paths_with_spaces_and_non_ascii_apply(tmp_path):
    files = {"_posts/déjà vu.md": doc(f"originalUrl: {OLD}\n"), "pages/a b/c d.md": doc(f"webUrl: {OLD}\n"),
             'odd/q"uote.md': doc(f"webUrl: {OLD}\n")}
    site = Site(tmp_path / "site", files)
    site.fix({"_posts/déjà vu.md": [Replace("originalUrl", OLD, NEW)],
              "pages/a b/c d.md": [Replace("webUrl", OLD, NEW)],
              'odd/q"uote.md': [Replace("webUrl", OLD, NEW)]})
    assert site.read("pages/a b/c d.md") == doc(f"webUrl: {NEW}\n").encode()


# -- multi-line scalars ------------------------------------------------------------------

def test_multi_line_plain_and_quoted_scalars_become_one_line(tmp_path):
    text = doc("title: a title\n  folded over two lines\n"
               'originalUrl: "https://old.example/\\\n  a"\n'
               "webUrl: 'https://w.example/x\n\n  y'\n")
    edits = [Replace("originalUrl", OLD, NEW), Replace("webUrl", "https://w.example/x\ny", "https://w.example/z")]
    expected = doc("title: a title\n  folded over two lines\n"
                   f'originalUrl: "{NEW}"\n'
                   "webUrl: 'https://w.example/z'\n")
    fix_one(tmp_path, text, edits, expected)


# -- removing entries --------------------------------------------------------------------

def test_remove_block_entries(tmp_path):
    text = doc("title: T\n"
               "ampWebUrl: https://amp.example/a   # dead\n"
               "related:\n"
               "  - webUrl: https://r.example/1\n"
               "    # keep this comment\n"
               "    ampWebUrl: 'https://amp.example/r1'\n"
               "    title: R1\n"
               "  - ampWebUrl: https://amp.example/r2\n"
               "    cdnAmpWebUrl: https://cdn.example/r2\n"
               "    webUrl: https://r.example/2\n"
               "  - title: only amp\n"
               "    ampWebUrl: https://amp.example/r3\n"
               "provider:\n"
               "  ampWebUrl: https://amp.example/p\n"
               "webUrl: https://w.example/\n")
    edits = [Remove("ampWebUrl", "https://amp.example/a"),
             Remove("related[0].ampWebUrl", "https://amp.example/r1"),
             Remove("related[1].ampWebUrl", "https://amp.example/r2"),
             Remove("related[1].cdnAmpWebUrl", "https://cdn.example/r2"),
             Remove("related[2].ampWebUrl", "https://amp.example/r3"),
             Remove("provider.ampWebUrl", "https://amp.example/p")]
    expected = doc("title: T\n"
                   "related:\n"
                   "  - webUrl: https://r.example/1\n"
                   "    # keep this comment\n"
                   "    title: R1\n"
                   "  - webUrl: https://r.example/2\n"
                   "  - title: only amp\n"
                   "provider:\n"
                   "  {}\n"
                   "webUrl: https://w.example/\n")
    fix_one(tmp_path, text, edits, expected)


def test_remove_every_entry_of_an_item_leaves_an_empty_mapping(tmp_path):
    text = doc("related:\n  - ampWebUrl: https://amp.example/1  # c\n    cdnAmpWebUrl: https://cdn.example/1\n"
               "  - webUrl: https://r.example/2\n")
    edits = [Remove("related[0].ampWebUrl", "https://amp.example/1"),
             Remove("related[0].cdnAmpWebUrl", "https://cdn.example/1")]
    fix_one(tmp_path, text, edits, doc("related:\n  - {}\n  - webUrl: https://r.example/2\n"))


def test_remove_crlf_lines(tmp_path):
    data = (f"---\r\nampWebUrl: {OLD}\r\nwebUrl: {NEW}\r\n---\r\nBody\r\n").encode()
    fix_one(tmp_path, data, [Remove("ampWebUrl", OLD)], f"---\r\nwebUrl: {NEW}\r\n---\r\nBody\r\n".encode())


@pytest.mark.parametrize(("front", "field", "expected"), [
    ("images: [{url: https://i.example/1, ampWebUrl: https://a.example/1, w: 1}]\n",
     "images[0].ampWebUrl", "images: [{url: https://i.example/1, w: 1}]\n"),
    ("images: [{url: https://i.example/1, ampWebUrl: https://a.example/1}]\n",
     "images[0].ampWebUrl", "images: [{url: https://i.example/1}]\n"),
    ("images: [{ampWebUrl: https://a.example/1 , url: https://i.example/1}]\n",
     "images[0].ampWebUrl", "images: [{url: https://i.example/1}]\n"),
    ("images: [{ ampWebUrl: https://a.example/1 }]\n", "images[0].ampWebUrl", "images: [{  }]\n"),
    ("item: {a: 1,\n  ampWebUrl: https://a.example/1,\n  b: 2}\n", "item.ampWebUrl", "item: {a: 1,\n  b: 2}\n"),
])
def test_remove_flow_entries(tmp_path, front, field, expected):
    fix_one(tmp_path, doc(front), [Remove(field, "https://a.example/1")], doc(expected))


# -- body links --------------------------------------------------------------------------

def test_body_links_markdown_and_html(tmp_path):
    body = (f"Intro [the story]({OLD}) and more.\n"
            f'<img src="https://i.example/x.jpg" alt="x"> <a href=\'{OLD}\'>again</a>\n'
            f"![pic](https://i.example/x.jpg)\n")
    text = doc(f"originalUrl: {OLD}\n", body)
    edits = [Replace("body:line 4", OLD, NEW), Replace("body:line 5", OLD, NEW),
             Replace("body:line 6", "https://i.example/x.jpg", "https://web.archive.org/web/2020/https://i.example/x.jpg")]
    expected = doc(f"originalUrl: {OLD}\n", body.replace(OLD, NEW).replace(
        "(https://i.example/x.jpg)", "(https://web.archive.org/web/2020/https://i.example/x.jpg)"))
    fix_one(tmp_path, text, edits, expected)


def test_two_links_on_one_body_line(tmp_path):
    body = f'<a href="{OLD}"><img src="https://i.example/x.jpg"></a> [x]({NEW})\n'
    edits = [Replace("body:line 4", OLD, "https://a.example/1"),
             Replace("body:line 4", "https://i.example/x.jpg", "https://a.example/2"),
             Replace("body:line 4", NEW, "https://a.example/3")]
    expected = doc("title: T\n", '<a href="https://a.example/1"><img src="https://a.example/2"></a> '
                                 "[x](https://a.example/3)\n")
    fix_one(tmp_path, doc("title: T\n", body), edits, expected)


def test_body_lines_are_those_of_the_original_when_front_lines_go(tmp_path):
    text = doc(f"ampWebUrl: https://amp.example/a\nwebUrl: {OLD}\n", f"Text\n[x]({OLD})\n")
    edits = [Remove("ampWebUrl", "https://amp.example/a"), Replace("body:line 6", OLD, NEW)]
    fix_one(tmp_path, text, edits, doc(f"webUrl: {OLD}\n", f"Text\n[x]({NEW})\n"))


# -- aliases -----------------------------------------------------------------------------

def test_alias_edited_at_every_path_at_once(tmp_path):
    text = doc(f"originalUrl: &src {OLD}\nwebUrl: *src\nrelated:\n  - webUrl: *src\n")
    edits = [Replace("originalUrl", OLD, NEW), Replace("webUrl", OLD, NEW), Replace("related[0].webUrl", OLD, NEW)]
    fix_one(tmp_path, text, edits, text.replace(OLD, NEW))


def test_merge_key_field_edited_where_written(tmp_path):
    text = doc(f"related:\n  - <<: {{webUrl: {OLD}, title: T}}\n    images: []\n")
    fix_one(tmp_path, text, [Replace("related[0].webUrl", OLD, NEW)], text.replace(OLD, NEW))


# -- refusals ----------------------------------------------------------------------------

def refusals(data: str | bytes, edits) -> list[tuple[str, str, str]]:
    result = edit_document(data.encode() if isinstance(data, str) else data, edits)
    return [(r.edit.field, r.code, r.reason) for r in result.refused]


def test_refused_when_the_value_changed(tmp_path):
    text = doc(f"originalUrl: {NEW}\nwebUrl: {OLD}\n")
    results = fix_one(tmp_path, text, [Replace("originalUrl", OLD, NEW), Replace("webUrl", OLD, NEW)],
                      doc(f"originalUrl: {NEW}\nwebUrl: {NEW}\n"), refused=["originalUrl"])
    assert results
    [(_field, code, reason)] = refusals(text, [Replace("originalUrl", OLD, NEW)])
    assert code == "value_changed" and NEW in reason and OLD in reason


def test_refused_through_an_alias_unless_every_path_is_edited():
    text = doc(f"originalUrl: &src {OLD}\nrelated:\n  - webUrl: *src\n")
    [(_field, code, reason)] = refusals(text, [Replace("related[0].webUrl", OLD, NEW)])
    assert code == "shared_value" and "originalUrl" in reason
    [(_field, code, reason)] = refusals(text, [Replace("originalUrl", OLD, NEW)])
    assert code == "shared_value" and "related[0].webUrl" in reason
    shared_item = doc(f"a: &item\n  url: {OLD}\nrelated: [*item, *item]\n")
    codes = {r[1] for r in refusals(shared_item, [Replace("related[0].url", OLD, NEW)])}
    assert codes == {"shared_value"}


def test_refused_removals_through_aliases_and_merges():
    text = doc(f"base: &b\n  ampWebUrl: {OLD}\nitem:\n  <<: *b\n  webUrl: {NEW}\nother:\n  amp: *x\n"
               .replace("  amp: *x\n", ""))
    got = refusals(text, [Remove("item.ampWebUrl", OLD)])
    assert [(f, c) for f, c, _ in got] == [("item.ampWebUrl", "merged_entry")]
    aliased = doc(f"webUrl: &u {OLD}\nampWebUrl: *u\n")
    assert [c for _, c, _ in refusals(aliased, [Remove("ampWebUrl", OLD)])] == ["shared_value"]


@pytest.mark.parametrize(("front", "edit", "code"), [
    (f"originalUrl: |\n  {OLD}\n", Replace("originalUrl", OLD + "\n", NEW), "block_scalar"),
    (f"originalUrl: >-\n  {OLD}\n", Replace("originalUrl", OLD, NEW), "block_scalar"),
    (f"ampWebUrl: >-\n  {OLD}\n", Remove("ampWebUrl", OLD), "block_scalar"),
    ("url: 123\n", Replace("url", "123", NEW), "not_a_string"),
    ("url: [a]\n", Replace("url", "a", NEW), "not_a_string"),
    (f"webUrl: {OLD}\n", Replace("related[0].webUrl", OLD, NEW), "no_such_field"),
    (f"a.b: {OLD}\na:\n  b: {OLD}\n", Replace("a.b", OLD, NEW), "ambiguous_field"),
    (f"1: {OLD}\n'1': {OLD}\n", Replace("1", OLD, NEW), "ambiguous_field"),
    (f"ampWebUrl: {OLD}\nampWebUrl: {OLD}\n", Remove("ampWebUrl", OLD), "duplicate_key"),
    (f"links: [{OLD}]\n", Remove("links[0]", OLD), "not_an_entry"),
    (f"? ampWebUrl\n: {OLD}\n", Remove("ampWebUrl", OLD), "unsupported_layout"),
    (f"related:\n  - ampWebUrl: {OLD}\n    # c\n    webUrl: x\n", Remove("related[0].ampWebUrl", OLD),
     "unsupported_layout"),
    (f"i: {{a: 1, # c\n  ampWebUrl: {OLD}}}\n", Remove("i.ampWebUrl", OLD), "unsupported_layout"),
    (f"l: [ampWebUrl: {OLD}]\n", Remove("l[0].ampWebUrl", OLD), "unsupported_layout"),
    (f"webUrl: {OLD}\n", Replace("webUrl", OLD, "\ud800"), "bad_new_value"),
    (f"webUrl: {OLD}\n", Remove("body:line 3", OLD), "not_an_entry"),
])
def test_refusals(front, edit, code):
    got = refusals(doc(front), [edit])
    assert [(f, c) for f, c, _ in got] == [(edit.field, code)], got


def test_overlapping_and_conflicting_edits_are_refused_and_the_rest_applied():
    text = doc(f"ampWebUrl: {OLD}\nwebUrl: {OLD}\noriginalUrl: {OLD}\n")
    result = edit_document(text.encode(), [
        Remove("ampWebUrl", OLD), Replace("ampWebUrl", OLD, NEW),
        Replace("webUrl", OLD, NEW), Replace("webUrl", OLD, "https://other.example/"),
        Replace("originalUrl", OLD, NEW), Replace("originalUrl", OLD, NEW)])
    assert sorted((r.edit.field, r.code) for r in result.refused) == [
        ("ampWebUrl", "conflict"), ("ampWebUrl", "conflict"), ("webUrl", "conflict"), ("webUrl", "conflict")]
    assert result.data == doc(f"ampWebUrl: {OLD}\nwebUrl: {OLD}\noriginalUrl: {NEW}\n").encode()


def test_overlapping_splices_are_all_refused():
    """No two valid edits of different fields touch the same characters (an anchor and its
    aliases are one splice); the check stands guard all the same."""
    edits = [Replace(f"f{i}", OLD, NEW) for i in range(4)]
    splices = [_Splice(0, 10, "x", (edits[0],)), _Splice(5, 8, "y", (edits[1],)),
               _Splice(10, 12, "z", (edits[2],)), _Splice(11, 13, "w", (edits[3],))]
    kept, refused = _without_overlaps(splices)
    assert kept == []
    assert sorted((r.edit.field, r.code) for r in refused) == [
        ("f0", "overlap"), ("f1", "overlap"), ("f2", "overlap"), ("f3", "overlap")]
    kept, refused = _without_overlaps([splices[0], splices[2]])
    assert kept == [splices[0], splices[2]] and refused == []


def test_a_replacement_next_to_a_removed_entry():
    text = doc(f"i:\n  ampWebUrl: {{url: {OLD}}}\n  w: 1\n  v: {OLD}\n")
    result = edit_document(text.encode(), [Replace("i.ampWebUrl.url", OLD, NEW), Replace("i.v", OLD, NEW)])
    assert not result.refused
    removal = edit_document(text.encode(), [Remove("i.ampWebUrl", OLD)])
    assert [r.code for r in removal.refused] == ["not_a_string"]
    for front, expected in [(f"i: {{a: {OLD}, b: {OLD}}}\n", f"i: {{b: {NEW}}}\n"),
                            (f"i: {{b: {OLD}, a: {OLD}}}\n", f"i: {{b: {NEW}}}\n")]:
        both = edit_document(doc(front).encode(), [Remove("i.a", OLD), Replace("i.b", OLD, NEW)])
        assert not both.refused and both.data == doc(expected).encode()


@pytest.mark.parametrize(("data", "code"), [
    (b"no front matter\n", "no_front_matter"),
    (b"---\nwebUrl: x\n", "front_matter_not_closed"),
    (b"---\nwebUrl: [x\n---\n", "front_matter_invalid"),
    (b"---\n- a\n---\n", "front_matter_invalid"),
    (b"---\nwebUrl: \xff\n---\n", "unreadable"),
])
def test_files_the_reader_cannot_read_are_refused(data, code):
    result = edit_document(data, [Replace("webUrl", "x", NEW)])
    assert [r.code for r in result.refused] == [code] and result.data == data


@pytest.mark.parametrize(("body", "edit", "code"), [
    (f"see {OLD} and [b]({OLD}/x)\n", Replace("body:line 4", OLD, NEW), "body_link_not_found"),
    (f"[a]({OLD})\n", Replace("body:line 5", OLD, NEW), "body_link_not_found"),
    (f"[a]({OLD})\n", Replace("body:line 3", OLD, NEW), "body_link_not_found"),
    (f"[a]({OLD})\n", Replace("body:line x", OLD, NEW), "no_such_field"),
    (f"[a]({OLD})\n", Replace("body:line 4", OLD, "https://n.example/a b"), "bad_new_value"),
    (f"[a]({OLD})\n", Replace("body:line 4", OLD, "https://n.example/(x)"), "readback_mismatch"),
    (f'<a href="{OLD}">a</a>\n', Replace("body:line 4", OLD, 'https://n.example/"x'), "readback_mismatch"),
])
def test_body_refusals(body, edit, code):
    text = doc("title: T\n", body)
    result = edit_document(text.encode(), [edit])
    assert [r.code for r in result.refused] == [code], result.refused
    assert result.data == text.encode()


@pytest.mark.parametrize(("body", "expected"), [
    (f"[a]({OLD}) and [b]({OLD} \"t\")\n", f"[a]({NEW}) and [b]({NEW} \"t\")\n"),
    # powerapps' _samples: a CMS body is one line of HTML, a profile linked twice in it, and
    # a URL shown as a link's text; the text is no link, and stays
    (f'<p>by <a href="{OLD}">@a</a>, <a href="{OLD}" target="_blank">{OLD}</a></p>\n',
     f'<p>by <a href="{NEW}">@a</a>, <a href="{NEW}" target="_blank">{OLD}</a></p>\n'),
    (f'<a href=" {OLD} ">a</a><img src=\'{OLD}\'> see {OLD}\n',
     f'<a href=" {NEW} ">a</a><img src=\'{NEW}\'> see {OLD}\n'),
])
def test_a_link_written_twice_on_a_line_is_one_reference_and_changes_at_both_places(
        tmp_path, body, expected):
    """Regression (issue 18, powerapps): the reader records a URL linked twice on one line
    as one reference, so an edit of it was refused as ambiguous for ever; it changes every
    link the reader found, and nothing else."""
    fix_one(tmp_path, doc("title: T\n", body), [Replace("body:line 4", OLD, NEW)],
            doc("title: T\n", expected))


def test_merge_key_values_are_shared_with_the_merged_mapping(tmp_path):
    text = doc(f"base: &b {{webUrl: {OLD}}}\nitems:\n  - <<: [*b, {{title: T}}]\n    w: 1\n")
    [(_, code, reason)] = refusals(text, [Replace("items[0].webUrl", OLD, NEW)])
    assert code == "shared_value" and "base.webUrl" in reason
    fix_one(tmp_path, text, [Replace("items[0].webUrl", OLD, NEW), Replace("base.webUrl", OLD, NEW)],
            text.replace(OLD, NEW))


def test_one_edit_that_does_not_read_back_does_not_sink_the_others(tmp_path):
    text = doc(f"originalUrl: {OLD}\n", f"[a]({OLD}) and [b]({OLD}/x)\n")
    result = edit_document(text.encode(), [Replace("originalUrl", OLD, NEW),
                                           Replace("body:line 4", OLD + "/x", "https://n.example/(x)")])
    assert [(r.edit.field, r.code) for r in result.refused] == [("body:line 4", "readback_mismatch")]
    assert result.changed and result.data == doc(f"originalUrl: {NEW}\n", f"[a]({OLD}) and [b]({OLD}/x)\n").encode()


def test_replace_in_body_alone():
    data = doc("title: T\n", f"<a href=\"{OLD}\">x</a>\n").encode()
    assert replace_in_body(data, "body:line 4", OLD, NEW) == data.replace(OLD.encode(), NEW.encode())
    with pytest.raises(EditRefused) as refused:
        replace_in_body(data, "body:line 4", NEW, OLD)
    assert refused.value.code == "body_link_not_found"


def test_replace_in_body_an_html_and_a_markdown_link_on_one_line():
    """The reader lists Markdown's links before HTML's: replaced in that order, the second
    replacement landed at a shifted offset (a new URL of another length shows it)."""
    longer = NEW + "/and/longer"
    data = doc("title: T\n", f'<a href="{OLD}">x</a> and [y]({OLD})\n').encode()
    assert replace_in_body(data, "body:line 4", OLD, longer) == data.replace(OLD.encode(),
                                                                             longer.encode())


def test_a_refused_removal_does_not_block_the_others_of_its_mapping(tmp_path):
    text = doc(f"webUrl: &u {OLD}\nampWebUrl: *u\ncdnAmpWebUrl: https://cdn.example/x\ntitle: T\n")
    edits = [Remove("ampWebUrl", OLD), Remove("cdnAmpWebUrl", "https://cdn.example/x")]
    fix_one(tmp_path, text, edits, doc(f"webUrl: &u {OLD}\nampWebUrl: *u\ntitle: T\n"), refused=["ampWebUrl"])
