"""``scrapy fix`` end to end (issue 18): real crawls of a generated site on a loopback web where
links moved and died, the real command, the patch applied by git in the site's own
repository, and a crawl again.

The site has every quoting style, block and flow sequences, comments, a CRLF file, a BOM,
non-ASCII text, URLs with ``//``, ``%2C``, a query and a fragment, and one moved URL
referenced from many files and fields.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from crawler.core.urls import normalise
from crawler.fix import Remove, Replace
from tests.crawl import REPO, crawl
from tests.fix_site import check_reads_back
from tests.git_repo import git
from tests.webserver import PNG, Web

pytestmark = pytest.mark.e2e

MOVES = {  # path -> where it moved (a chain where the value is a list)
    "/moved/one": ["/ok/one"],
    "/moved/two": ["/moved/two-b", "/ok/two"],  # 301 then 301: both permanent
    "/moved/img.png": ["/image.png"],
    "/moved/q": ["/ok/q?a=1&b=2"],
    "/moved//a%2Cb": ["/ok//a%2Cb"],
    "/ok/img/old.png": ["/ok/img/new.png"],  # inside the site's base: stays site-relative
}
SETTINGS = {"LINKHEALTH_WAYBACK": "1", "LINKHEALTH_WAYBACK_DELAY": "0"}
CAPTURE = "20210301120000"


def site_files(web: Web) -> dict[str, bytes]:
    u = web.url
    one, two, img = u("/moved/one"), u("/moved/two"), u("/moved/img.png")
    plain = f"""---
title: Plain
date: 2021-03-05
# a comment line
webUrl: {one}   # a comment after the value
originalUrl: {one}
images:
  - url: {img}
  - url: /img/old.png
related:
  - webUrl: {two}
    ampWebUrl: {u("/status/404?amp=1")}
    images:
      - url: {img}
---
Body text.
"""
    quoted = f"""---
title: 'Quoted: it''s'
webUrl: "{u("/moved/q")}?a=1&b=2#frag"
originalUrl: '{u("/moved//a%2Cb")}'
images: [{{url: "{u("/page/logo.png")}"}}, {{url: '{one}'}}]
related: [{{webUrl: {two}, cdnAmpWebUrl: "{u("/status/404?amp=2")}"}}, {{webUrl: {u("/page/gone")}}}]
---
"""
    crlf = (f"---\ntitle: Café — naïve ✓\nwebUrl: {one}\noriginalUrl: {u('/ok/kept')}\n"
            f"---\nDes accents.\n").replace("\n", "\r\n")
    untouched = f"---\ntitle: Untouched\nwebUrl: {u('/ok/fine')}\n---\n"
    return {"_news/2021-03-05-plain.md": plain.encode(),
            "_news/2021-03-06-quoted.md": quoted.encode(),
            "_news/2021-03-07-crlf.md": crlf.encode(),
            "_news/2021-03-08-bom.md": b"\xef\xbb\xbf" + f"---\ntitle: BOM\nwebUrl: {img}\n---\n".encode(),
            "_news/2021-03-09-untouched.md": untouched.encode()}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Three crawls: the moves are there from the start; the logo image and the page
    'gone' live in run 1 (archived), dead in runs 2 and 3 (confirmed)."""
    tmp = tmp_path_factory.mktemp("fix")
    with Web() as web:
        for path, hops in MOVES.items():
            for start, target in zip([path, *hops[:-1]], hops, strict=True):
                web.moves[start] = target
        web.pages["logo.png"] = PNG
        web.cdx["timestamps"] = [CAPTURE]
        files = site_files(web)
        site = tmp / "site"
        for relative, data in files.items():
            (site / relative).parent.mkdir(parents=True, exist_ok=True)
            (site / relative).write_bytes(data)
        args = {"base_url": web.url("/ok")}
        settings = {**SETTINGS, "LINKHEALTH_WAYBACK_CDX_URL": web.url("/cdx/search/cdx")}
        db = tmp / "db.sqlite"
        crawl(site, db, settings, args)
        web.pages["logo.png"] = web.pages["gone"] = None
        crawl(site, db, settings, args)
        crawl(site, db, settings, args)
        for command in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "site"]):
            assert git(site, *command).returncode == 0
        yield {"web": web, "site": site, "db": db, "files": files, "args": args,
               "settings": settings, "tmp": tmp}


def fix(world, *args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "scrapy", "fix", "--db", str(world["db"]), *args],
                          cwd=cwd, capture_output=True, timeout=120)


def expected_edits(world) -> dict[str, list[Replace | Remove]]:
    u = world["web"].url
    one, two, img = u("/moved/one"), u("/moved/two"), u("/moved/img.png")
    new_one, new_two, new_img = u("/ok/one"), u("/ok/two"), u("/image.png")
    logo_copy = "/assets/archive/"  # the rest is the snapshot's digest: checked apart
    return {
        "_news/2021-03-05-plain.md": [
            Replace("webUrl", one, new_one), Replace("originalUrl", one, new_one),
            Replace("images[0].url", img, new_img), Replace("images[1].url", "/img/old.png", "/img/new.png"),
            Replace("related[0].webUrl", two, new_two), Replace("related[0].images[0].url", img, new_img),
            Remove("related[0].ampWebUrl", u("/status/404?amp=1"))],
        "_news/2021-03-06-quoted.md": [
            Replace("webUrl", u("/moved/q") + "?a=1&b=2#frag", u("/ok/q?a=1&b=2") + "#frag"),
            Replace("originalUrl", u("/moved//a%2Cb"), u("/ok//a%2Cb")),
            Replace("images[0].url", u("/page/logo.png"), logo_copy),
            Replace("images[1].url", one, new_one),
            Replace("related[0].webUrl", two, new_two),
            Remove("related[0].cdnAmpWebUrl", u("/status/404?amp=2")),
            Replace("related[1].webUrl", u("/page/gone"),
                    f"https://web.archive.org/web/{CAPTURE}/{u('/page/gone')}")],
        "_news/2021-03-07-crlf.md": [Replace("webUrl", one, new_one)],
        "_news/2021-03-08-bom.md": [Replace("webUrl", img, new_img)],
    }


@pytest.fixture(scope="module")
def patched(world):
    """``scrapy fix --dead auto -o fix.patch``, applied with git in the site's repository."""
    patch = world["tmp"] / "fix.patch"
    done = fix(world, "--dead", "auto", "-o", str(patch))
    assert done.returncode == 0, done.stderr.decode()
    check = git(world["site"], "apply", "--check", str(patch))
    assert check.returncode == 0, check.stderr.decode()
    assert git(world["site"], "apply", str(patch)).returncode == 0
    return {"patch": patch.read_bytes(), "stderr": done.stderr.decode()}


def test_the_patch_applies_and_each_file_reads_as_before_but_for_the_fixed_values(world, patched):
    expected = expected_edits(world)
    for relative, old in world["files"].items():
        new = (world["site"] / relative).read_bytes()
        edits = expected.get(relative, [])
        if not edits:
            assert new == old, relative  # a file with nothing to fix is not in the patch
            continue
        logo = next((e for e in edits if isinstance(e, Replace) and e.new == "/assets/archive/"), None)
        if logo is not None:  # the local copy's name is the snapshot's digest
            copy = json.loads(json.dumps(new.decode().split("images: [{url: \"", 1)[1].split('"', 1)[0]))
            assert copy.startswith("/assets/archive/") and copy.endswith(".png")
            edits = [Replace(e.field, e.old, copy) if e is logo else e for e in edits]
        check_reads_back(old, new, edits, world["tmp"] / "reread", relative)
    assert b"\r\n" in (world["site"] / "_news/2021-03-07-crlf.md").read_bytes()


def test_a_dead_image_is_replaced_by_its_last_good_copy_written_into_the_site(world, patched):
    copies = list((world["site"] / "assets/archive").iterdir())
    assert [c.suffix for c in copies] == [".png"] and copies[0].read_bytes() == PNG
    assert b"GIT binary patch" in patched["patch"]


def test_the_summary_counts_each_kind_and_lists_what_was_not_fixed(patched):
    first, counts = patched["stderr"].splitlines()[:2]
    assert first.startswith("scrapy fix: run 3, patch of ")
    assert counts == ("16 references in 4 files: 12 moved links followed, 1 Wayback capture, "
                      "1 local copy, 2 AMP fields removed")


def test_a_crawl_after_the_fix_finds_no_moved_link_left_and_fix_has_nothing_to_do(
        world, patched, tmp_path):
    db = tmp_path / "after.sqlite"  # the other tests read the module's database as run 3 left it
    shutil.copy(world["db"], db)
    after = crawl(world["site"], db, world["settings"], world["args"])
    moved = list(after.db.query(
        "SELECT d.path, r.field, u.url FROM refs r JOIN documents d ON d.id = r.document_id"
        " JOIN urls u ON u.id = r.url_id WHERE r.last_run_id = ? AND u.permanent_redirect = 1",
        [after.run()["id"]]))
    assert moved == []
    again = fix({**world, "db": db}, "--dead", "auto")
    assert again.returncode == 0 and again.stdout == b""
    assert again.stderr.decode().splitlines()[1].startswith("0 references in 0 files")


def test_the_report_says_what_scrapy_fix_would_change(world):
    done = subprocess.run([sys.executable, "-m", "scrapy", "report", "--db", str(world["db"]),
                           "--run", "3", "--format", "json"], cwd=REPO, capture_output=True)
    assert json.loads(done.stdout)["fix"] == {"moved": {"references": 12, "documents": 4},
                                             "dead": {"references": 4, "documents": 2}}
    markdown = subprocess.run([sys.executable, "-m", "scrapy", "report", "--db", str(world["db"]),
                               "--run", "3"], cwd=REPO, capture_output=True, text=True).stdout
    assert ("`scrapy fix -o fix.patch` writes a patch that rewrites 12 references in 4 documents"
            in markdown)
    page = subprocess.run([sys.executable, "-m", "scrapy", "report", "--db", str(world["db"]),
                           "--run", "3", "--format", "html"], cwd=REPO, capture_output=True,
                          text=True).stdout
    assert ("<code>scrapy fix -o fix.patch</code> writes a patch that rewrites 12 references in"
            " 4 documents" in page)
    assert "with <code>--dead auto</code> it also replaces 4 references" in page


@pytest.fixture
def fresh_site(world, tmp_path):
    """The site as the crawl read it, in a repository of its own (the module's is patched)."""
    site = tmp_path / "site"
    for relative, data in world["files"].items():
        (site / relative).parent.mkdir(parents=True, exist_ok=True)
        (site / relative).write_bytes(data)
    return site


def test_a_file_changed_since_the_crawl_is_left_alone_and_said_so(world, fresh_site):
    changed = fresh_site / "_news/2021-03-07-crlf.md"
    changed.write_bytes(changed.read_bytes() + b"An edit after the crawl.\r\n")
    done = fix(world, "--run", "3", "--source", str(fresh_site))
    assert done.returncode == 0
    assert b"_news/2021-03-07-crlf.md" not in done.stdout.split(b"\n", 1)[0] + done.stdout
    assert ("not fixed: _news/2021-03-07-crlf.md webUrl " in done.stderr.decode()
            and "the file changed since run 3 read it" in done.stderr.decode())


def test_apply_writes_what_the_patch_says(world, fresh_site, tmp_path):
    patch = fix(world, "--run", "3", "--source", str(fresh_site), "--only", "*images*")
    assert patch.returncode == 0
    twin = tmp_path / "twin"
    shutil.copytree(fresh_site, twin)
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "site"]):
        assert git(twin, *command).returncode == 0
    assert git(twin, "apply", "-", stdin=patch.stdout).returncode == 0
    applied = fix(world, "--run", "3", "--source", str(fresh_site), "--only", "*images*", "--apply")
    assert applied.returncode == 0, applied.stderr.decode()
    for relative in world["files"]:
        assert (fresh_site / relative).read_bytes() == (twin / relative).read_bytes()
    # --only: the images, nothing else
    assert b"webUrl" not in b"".join(line for line in patch.stdout.splitlines() if line[:1] in b"+-")


def test_without_dead_only_moves_change_and_a_bad_option_is_one_line(world, fresh_site):
    done = fix(world, "--source", str(fresh_site))
    assert done.returncode == 0 and b"web.archive.org" not in done.stdout
    assert done.stderr.decode().splitlines()[1].startswith("12 references in 4 files")
    bad = fix(world, "--dead", "page=burn")
    assert bad.returncode == 1
    assert bad.stderr.decode().startswith("scrapy fix: error: --dead: 'page=burn' is not KIND=MODE")


def test_the_run_s_stored_urls_match_what_the_test_moved(world):
    """Guards the test itself: each moved URL was seen as a permanent redirect in every run."""
    with sqlite3.connect(world["db"]) as conn:
        streaks = dict(conn.execute(
            "SELECT u.url, sum(c.permanent_redirect) FROM checks c JOIN urls u ON u.id = c.url_id"
            " GROUP BY u.url"))
    for path in MOVES:
        written = {"/moved/q": "/moved/q?a=1&b=2", "/ok/img/old.png": "/ok/img/old.png"}
        assert streaks[normalise(world["web"].url(written.get(path, path)))] == 3, path


def test_a_local_copy_already_in_the_site_is_pointed_at_not_written_again(world, fresh_site):
    """A copy an earlier fix wrote (a later post links the same dead image): the patch points
    the reference at it and adds no file git would refuse ('already exists'); a file of other
    bytes at that path is never pointed at."""
    first = fix(world, "--run", "3", "--source", str(fresh_site), "--dead", "auto",
                "--only", "*images*", "--apply")
    assert first.returncode == 0, first.stderr.decode()
    copies = list((fresh_site / "assets/archive").iterdir())
    assert len(copies) == 1
    for relative, data in world["files"].items():  # the documents as crawled, the copy kept
        (fresh_site / relative).write_bytes(data)
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "site"]):
        assert git(fresh_site, *command).returncode == 0

    again = fix(world, "--run", "3", "--source", str(fresh_site), "--dead", "auto",
                "--only", "*images*")
    assert again.returncode == 0, again.stderr.decode()
    assert b"new file mode" not in again.stdout
    assert f"/assets/archive/{copies[0].name}".encode() in again.stdout
    check = git(fresh_site, "apply", "--check", "-", stdin=again.stdout)
    assert check.returncode == 0, check.stderr.decode()

    copies[0].write_bytes(b"not the archived image")
    other = fix(world, "--run", "3", "--source", str(fresh_site), "--dead", "auto",
                "--only", "*images*")
    assert other.returncode == 0
    assert f"/assets/archive/{copies[0].name}".encode() not in other.stdout
    assert f"assets/archive/{copies[0].name} is already in the site with other contents" \
        in other.stderr.decode()
