"""Property-based tests: URL handling and front-matter reading never raise, and normalisation
is idempotent, whatever the input."""

from __future__ import annotations

import datetime as dt
import re
import string
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from crawler.core.clock import epoch_seconds
from crawler.core.urls import Invalid, Target, normalise, redact, resolve
from crawler.site.references import front_matter_references
from crawler.site.sources import read_document

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

hosts = st.one_of(
    st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?(\.[a-z]{2,6}){1,3}", fullmatch=True),
    st.sampled_from(["bücher.de", "例え.テスト", "xn--bcher-kva.de", "127.0.0.1", "[::1]",
                     "EXAMPLE.COM", "a.b", "localhost"]),
)
path_chars = string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@/%"
urls = st.builds(
    lambda scheme, host, port, path, query, fragment: (
        f"{scheme}://{host}{port}/{path}{'?' + query if query else ''}{'#' + fragment if fragment else ''}"),
    st.sampled_from(["http", "https", "HTTP", "HtTpS"]),
    hosts,
    st.sampled_from(["", ":80", ":443", ":8080", ":0", ":65535"]),
    st.text(alphabet=path_chars, max_size=60),
    st.text(alphabet=path_chars + "?", max_size=40),
    st.text(max_size=10),
)
anything = st.one_of(urls, st.text(max_size=300), st.text(alphabet=path_chars + "[]#? ", max_size=2000))


@FAST
@given(anything, st.sampled_from([None, "https://example.org/base", "https://example.org"]))
def test_resolve_never_raises_and_classifies_every_string(text, base):
    result = resolve(text, base)
    assert isinstance(result, Target | Invalid)
    if isinstance(result, Invalid):
        assert result.reason


@FAST
@given(urls)
def test_normalisation_is_idempotent_and_safe(url):
    result = resolve(url, None)
    assume(isinstance(result, Target))
    assert normalise(result.key) == result.key
    scheme, _, _rest = result.key.partition("://")
    assert scheme in ("http", "https") and "#" not in result.key
    assert result.host == result.host.lower()
    assert result.request_url == url.strip()  # requested exactly as written


@FAST
@given(urls)
def test_paths_and_queries_are_never_rewritten(url):
    result = resolve(url, None)
    assume(isinstance(result, Target))
    path_and_query = re.sub(r"^[^:]+://[^/]*", "", url.split("#", 1)[0])
    assert result.key.endswith(path_and_query) or path_and_query == ""


@FAST
@given(st.text(alphabet=string.ascii_letters + ":@", min_size=1, max_size=10), urls)
def test_passwords_never_survive_redaction(password, url):
    assume(":" not in password and "@" not in password)
    with_password = url.replace("://", f"://user:{password}@", 1)
    result = resolve(with_password, None)
    assert f":{password}@" not in result.key
    assert f":{password}@" not in redact(with_password)


@FAST
@given(st.text(max_size=50_000).map(lambda s: "https://example.org/" + s))
def test_very_long_urls_are_handled(url):
    assert isinstance(resolve(url, None), Target | Invalid)


scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                    st.text(max_size=80), urls, st.dates(), st.datetimes())
keys = st.one_of(st.sampled_from(["url", "webUrl", "ampWebUrl", "images", "related", "secured",
                                  "provider", "title", "website", "cdnAmpWebUrl"]),
                 st.text(max_size=12), st.integers())
trees = st.recursive(scalars, lambda children: st.one_of(
    st.lists(children, max_size=5), st.dictionaries(keys, children, max_size=6)), max_leaves=40)


def follow(tree, field_path: str):
    """The value at a field path such as related[2].images[0].url."""
    node = tree
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", field_path):
        if part.startswith("["):
            node = node[int(part[1:-1])]
        else:
            node = next(v for k, v in node.items() if str(k) == part)
    return node


plain_keys = st.one_of(st.sampled_from(["url", "webUrl", "ampWebUrl", "images", "related",
                                         "secured", "provider", "website", "title"]),
                        st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True), st.integers())
plain_trees = st.recursive(scalars, lambda children: st.one_of(
    st.lists(children, max_size=4), st.dictionaries(plain_keys, children, max_size=5)), max_leaves=25)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(plain_keys, plain_trees, max_size=8))
def test_every_reference_points_at_its_value(metadata):
    for ref in front_matter_references(metadata):
        value = follow(metadata, ref.field)
        assert (str(value) if ref.not_a_string else value) == ref.value


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.one_of(
    st.binary(max_size=2000),
    st.text(max_size=2000).map(lambda t: ("---\n" + t + "\n---\nbody").encode("utf-8", "surrogatepass")),
    st.dictionaries(keys, trees, max_size=6).map(
        lambda m: ("---\n" + yaml.safe_dump(m, allow_unicode=True) + "---\n").encode()),
))
def test_every_file_ends_as_a_document_or_a_recorded_error(tmp_path: Path, content: bytes):
    path = tmp_path / "doc.md"
    path.write_bytes(content)
    document = read_document(path, tmp_path, body_links=True)
    if document is None:
        return  # no front matter: skipped and counted
    assert document.path == "doc.md"
    if document.error:
        assert not document.refs
    for ref in document.refs:
        assert isinstance(resolve(ref.value, "https://example.org"), Target | Invalid)


def test_dates_and_other_yaml_types_in_url_fields_are_not_strings():
    refs = list(front_matter_references({"webUrl": dt.date(2020, 1, 1), "url": 3.5}))
    assert [(r.field, r.not_a_string) for r in refs] == [("webUrl", "date"), ("url", "float")]


@given(st.datetimes(min_value=dt.datetime(1970, 1, 2), max_value=dt.datetime(9999, 12, 30)))
def test_stored_times_read_back_as_the_same_instant(moment):
    stored = moment.strftime("%Y-%m-%dT%H:%M:%SZ")  # as crawler.core.clock.utc_now writes them
    expected = moment.replace(microsecond=0, tzinfo=dt.UTC).timestamp()
    assert epoch_seconds(stored) == expected


@pytest.mark.parametrize("text", ["2026-11-26 14:32:22Z", "2026-11-26T14:32:22",
                                  "2026-11-26T14:32:22+00:00", "26/11/2026", "2026-11-26T14:32:2ZZ"])
def test_a_time_in_another_form_is_refused(text):
    with pytest.raises(ValueError):
        epoch_seconds(text)
