"""crawler.site.references: which front-matter strings and body links are references, and their kind."""

from __future__ import annotations

import datetime as dt

import pytest

from crawler.site.references import Reference, body_references, front_matter_references, kind_of


def refs(metadata) -> dict[str, Reference]:
    found = list(front_matter_references(metadata))
    by_field = {ref.field: ref for ref in found}
    assert len(by_field) == len(found), "duplicate field paths"
    return by_field


ARTICLE = {
    "title": "An article",
    "originalUrl": "https://a.com/original",
    "webUrl": "https://a.com/web",
    "ampWebUrl": "https://a.com/amp",
    "cdnAmpWebUrl": "https://cdn.a.com/amp",
    "secured": "/secure//path",
    "domain": "example.com",
    "excerpt": "see https://x.com for more",
    "related": [
        {"url": "https://r0.com/"},
        {"title": "no url here"},
        {"images": [{"url": "https://img.com/0.png"}, {"url": "/img/1.png"}]},
    ],
    "provider": {
        "name": "Provider",
        "images": [{"url": "https://p.com/logo.png"}],
        "twitter": {"url": "https://twitter.com/p"},
        "linkedin": {"url": "https://linkedin.com/p"},
        "website": "https://p.com",
    },
}


def test_field_paths_for_nested_structures():
    assert list(refs(ARTICLE)) == [
        "originalUrl", "webUrl", "ampWebUrl", "cdnAmpWebUrl",
        "related[0].url", "related[2].images[0].url", "related[2].images[1].url",
        "provider.images[0].url", "provider.twitter.url", "provider.linkedin.url",
        "provider.website",
    ]
    found = refs(ARTICLE)
    assert found["related[2].images[1].url"].value == "/img/1.png"
    assert found["provider.images[0].url"].value == "https://p.com/logo.png"


def test_kinds_in_a_document():
    kinds = {field: ref.kind for field, ref in refs(ARTICLE).items()}
    assert kinds == {
        "originalUrl": "page", "webUrl": "page",
        "ampWebUrl": "amp", "cdnAmpWebUrl": "amp",
        "related[0].url": "page",
        "related[2].images[0].url": "image", "related[2].images[1].url": "image",
        "provider.images[0].url": "image",
        "provider.twitter.url": "page", "provider.linkedin.url": "page",
        "provider.website": "page",
    }


@pytest.mark.parametrize(("field", "kind"), [
    ("originalUrl", "page"),
    ("webUrl", "page"),
    ("OriginalURL", "page"),
    ("ampWebUrl", "amp"),
    ("cdnAmpWebUrl", "amp"),
    ("images[0].url", "image"),
    ("images[12].url", "image"),
    ("related[0].images[0].url", "image"),
    ("provider.images[0].url", "image"),
    ("provider.twitter.url", "page"),
    ("provider.linkedin.url", "page"),
    ("twitter.url", "page"),
    ("website", "page"),
    ("provider.website", "page"),
    ("url", "page"),
    ("note", "other"),
    ("provider.logoUrl", "other"),
    ("myimages[0].url", "page"),  # not an images[] list: a plain url field
])
def test_kind_of(field, kind):
    assert kind_of(field) == kind


def test_secured_is_ignored_even_when_it_looks_like_a_url():
    for value in ("/secure/path", "//secure.example.com/x", "https://secure.example.com/"):
        assert refs({"secured": value}) == {}
        assert refs({"provider": {"secured": value}}) == {}


def test_non_url_strings_in_other_fields_are_ignored():
    assert refs({
        "title": "A title",
        "domain": "example.com",
        "excerpt": "see https://x.com for more",
        "body": "text //not/protocol relative",
        "slug": "/a/path",
    }) == {}


def test_string_with_a_scheme_is_found_in_any_field():
    found = refs({
        "note": "https://note.com/y",
        "contact": "mailto:someone@example.com",
        "cdn": "//cdn.example.com/a.js",
        "deep": {"list": ["plain", " http://spaced.example.com/"]},
    })
    assert {f: r.value for f, r in found.items()} == {
        "note": "https://note.com/y",
        "contact": "mailto:someone@example.com",
        "cdn": "//cdn.example.com/a.js",
        "deep.list[1]": " http://spaced.example.com/",
    }
    assert all(ref.kind == "other" for ref in found.values())


def test_anything_in_a_url_field_is_reported():
    found = refs({"href": "rel.html", "imageUrl": "not a url", "link": "/about/"})
    assert {f: (r.value, r.not_a_string) for f, r in found.items()} == {
        "href": ("rel.html", None),
        "imageUrl": ("not a url", None),
        "link": ("/about/", None),
    }


def test_non_string_in_url_field_reports_type_name():
    found = refs({"imageUrl": 42, "boolUrl": True, "dateUrl": dt.date(2020, 1, 2),
                  "website": 3.5, "listUrl": [1, "https://ok.com"]})
    assert {f: (r.value, r.not_a_string) for f, r in found.items()} == {
        "imageUrl": ("42", "int"),
        "boolUrl": ("True", "bool"),
        "dateUrl": ("2020-01-02", "date"),
        "website": ("3.5", "float"),
        "listUrl[0]": ("1", "int"),
        "listUrl[1]": ("https://ok.com", None),
    }


def test_none_and_empty_values_are_ignored():
    assert refs({"url": None, "webUrl": "", "website": "   ", "images": [{"url": None}],
                 "other": None, "count": 3}) == {}


# -- body links ----------------------------------------------------------------

BODY = (
    "First line of the body\n"                                    # line 10
    "A [link](https://x.com/a) and ![pic](/img.png).\n"            # line 11
    '<a href="https://h.com/x">h</a>\n'                            # line 12
    '<p><img class="c" src="/pic.jpg"></p>\n'                      # line 13
    "[rel](other.md) [anchor](#anchor) [tpl]({{ site.url }}/x)\n"  # line 14
    '<a href="{{ site.url }}/about">x</a> <a href="other.html">y</a>\n'  # line 15
    "[titled](https://t.com/p \"A title\")\n"                     # line 16
)


def test_body_links_kinds_and_line_numbers():
    found = [(r.field, r.value, r.kind) for r in body_references(BODY, 10)]
    assert sorted(found) == sorted([
        ("body:line 11", "https://x.com/a", "page"),
        ("body:line 11", "/img.png", "image"),
        ("body:line 12", "https://h.com/x", "page"),
        ("body:line 13", "/pic.jpg", "image"),
        ("body:line 16", "https://t.com/p", "page"),
    ])


def test_body_line_number_starts_at_first_line():
    assert [r.field for r in body_references("[a](https://a.com)", 1)] == ["body:line 1"]
    assert [r.field for r in body_references("\n\n[a](https://a.com)", 7)] == ["body:line 9"]


def test_body_page_relative_anchor_and_templates_skipped():
    body = "[a](other.md) [b](#top) [c]({{ site.url }}/x) [d](/x/{{page.slug}})\n<a href='../up.html'>u</a>"
    assert list(body_references(body, 1)) == []


def test_body_absolute_url_with_template_skipped():
    body = '<a href="https://example.com/{{ page.slug }}/">x</a>'
    assert list(body_references(body, 1)) == []
