"""What ``scrapy fix`` changes in a site, read from a run's database: the plan.

For every reference of the run (a document, a field path, the URL as written):

* to a **confirmed move** (``crawler.report.fixes``): the final URL, the reference's own
  fragment kept, a site-relative reference kept site-relative when it moved within the site;
* to a **confirmed dead link**, only as asked (``DeadPolicy``): the Wayback capture closest
  to the document's date (``wayback``); the last good snapshot written into the site as a
  file of its own (``local``); or, for an AMP field, the field removed (``remove``).

Each document's edits are made together by ``crawler.fix.edit_document``, byte-exact, only
while the file still holds the bytes the run read (``documents.file_digest``). What cannot be
fixed is listed with its reason: no capture, no archived copy, the file changed, the value
not found verbatim...
"""

from __future__ import annotations

import os
import re
import stat
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import sqlite_utils

from crawler.archive.copies import SNAPSHOT_EXTENSIONS
from crawler.archive.wayback import around_date
from crawler.core.media_types import media_type
from crawler.fix.document_edit import edit_document
from crawler.fix.edits import Edit, Remove, Replace, is_body_field
from crawler.fix.unified_diff import FileChange
from crawler.report.fixes import Confirmed, confirmed_dead, confirmed_moves
from crawler.site.sources import file_digest
from crawler.store.snapshots import read_body

KINDS = ("page", "image", "amp", "other")
MODES = ("none", "wayback", "local", "remove")
AUTO = {"page": "wayback", "image": "local", "amp": "remove", "other": "wayback"}
AMP_FIELDS = re.compile(r"(?:^|\.)(?:ampWebUrl|cdnAmpWebUrl)$")
# Archived types written into the site as files of their own, and their extensions.
LOCAL_EXTENSIONS = {
    # Images a browser shows and never runs: named as the archive's exports name them.
    **{kind: extension for kind, extension in SNAPSHOT_EXTENSIONS.items()
       if kind.startswith("image/") and not extension.endswith(".txt")},
    "application/pdf": ".pdf",
    # Pages the site serves as pages, behind HTML_GUARD.
    "text/html": ".html", "application/xhtml+xml": ".html",
}
# An archived page served from the site's own origin must not run anything there. Written
# first in the file, it also keeps Jekyll from reading the page as front matter: the copy is
# served as it is, never rendered as a page of the site.
HTML_GUARD = (b'<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
              b"img-src * data:; style-src * 'unsafe-inline'; font-src *; media-src *\">\n")


class PlanError(Exception):
    """The plan cannot be made (no such run, no site directory); the message says why."""


@dataclass(frozen=True, slots=True)
class DeadPolicy:
    """What to do with a confirmed dead link, by kind of reference."""

    modes: dict[str, str]

    @classmethod
    def parse(cls, text: str) -> DeadPolicy:
        """``none``, ``wayback``, ``local``, ``auto`` (pages and other links: wayback; images:
        local; AMP fields: remove), or ``KIND=MODE,...`` with ``none`` for the kinds not
        named (``page=wayback,amp=remove``)."""
        text = text.strip().lower()
        if text == "auto":
            return cls(dict(AUTO))
        if text in ("none", "wayback", "local"):
            return cls(dict.fromkeys(KINDS, text))
        modes = dict.fromkeys(KINDS, "none")
        for part in filter(None, (p.strip() for p in text.split(","))):
            kind, _, mode = part.partition("=")
            if kind not in KINDS or mode not in MODES:
                raise ValueError(f"--dead: {part!r} is not KIND=MODE (kinds: {', '.join(KINDS)};"
                                 f" modes: {', '.join(MODES)}); or none, wayback, local, auto")
            modes[kind] = mode
        return cls(modes)

    def mode(self, kind: str, field_path: str) -> str:
        mode = self.modes.get(kind if kind in KINDS else "other", "none")
        if mode == "remove" and not AMP_FIELDS.search(field_path):
            return "none"  # only an AMP field is dropped: any other is the article's own link
        return mode

    @property
    def any(self) -> bool:
        return any(mode != "none" for mode in self.modes.values())


@dataclass(frozen=True, slots=True)
class Options:
    runs: int = 2  # LINKHEALTH_BROKEN_AFTER: checks in a row that confirm a move or a death
    dead: DeadPolicy = field(default_factory=lambda: DeadPolicy.parse("none"))
    only: str | None = None  # a field-path glob: * matches anything, [ and ] are themselves
    body: bool = False  # body links too (when the run checked them)
    local_dir: str = "assets/archive"


@dataclass(frozen=True, slots=True)
class Change:
    """One reference changed: ``new`` None when the field is removed."""

    path: str
    field: str
    old: str
    new: str | None
    why: str  # moved | wayback | local | removed


@dataclass(frozen=True, slots=True)
class NotFixed:
    path: str
    field: str
    old: str
    reason: str


@dataclass
class Plan:
    run: dict[str, Any]
    root: Path
    files: list[FileChange] = field(default_factory=list)
    new_files: dict[str, bytes] = field(default_factory=dict)  # local copies, by site path
    changes: list[Change] = field(default_factory=list)
    not_fixed: list[NotFixed] = field(default_factory=list)

    def counts(self) -> Counter[str]:
        return Counter(change.why for change in self.changes)

    def summary(self) -> str:
        """``5 references in 2 files: 4 moved links followed, 1 AMP field removed`` and what
        was not fixed, by reason."""
        counts = self.counts()
        what = {"moved": ("moved link followed", "moved links followed"),
                "wayback": ("Wayback capture", "Wayback captures"),
                "local": ("local copy", "local copies"),
                "removed": ("AMP field removed", "AMP fields removed")}
        parts = [_count(counts[why], *labels) for why, labels in what.items() if counts[why]]
        head = (f"{_count(len(self.changes), 'reference', 'references')} in "
                f"{_count(len(self.files), 'file', 'files')}")
        lines = [head + (f": {', '.join(parts)}" if parts else "")]
        if self.new_files:
            lines.append(f"{_count(len(self.new_files), 'archived copy', 'archived copies')}"
                         " added to the site")
        if self.not_fixed:
            reasons = Counter(reason_kind(item.reason) for item in self.not_fixed)
            lines.append(f"{len(self.not_fixed)} not fixed: " + ", ".join(
                f"{n} {reason}" for reason, n in reasons.most_common()))
        return "\n".join(lines)


def make_plan(db: sqlite_utils.Database, root: Path, run_id: int | None = None,
              options: Options = Options()) -> Plan:
    run = _run(db, run_id)
    plan = Plan(run, root)
    refs = _references(db, run["id"], options)
    moves = confirmed_moves(db, run["id"], options.runs)
    dead = confirmed_dead(db, run["id"], options.runs) if options.dead.any else {}
    lookups = _Lookups(db, dead, root)
    edits: dict[str, list[tuple[Edit, Change]]] = defaultdict(list)
    for ref in refs:
        if ref["url_id"] in moves:
            new = moved_value(ref["raw"], moves[ref["url_id"]].final_url or "", run.get("base_url"))
            edits[ref["path"]].append((Replace(ref["field"], ref["raw"], new),
                                       Change(ref["path"], ref["field"], ref["raw"], new, "moved")))
        elif ref["url_id"] in dead:
            _dead_edit(ref, options, lookups, plan, edits)
    digests = {ref["path"]: ref["file_digest"] for ref in refs}  # one per document
    for path, wanted in sorted(edits.items()):
        _edit_file(plan, path, wanted, digests[path])
    plan.new_files = {path: data for path, data in lookups.copies.items()
                      if any(c.why == "local" and c.new == "/" + path for c in plan.changes)}
    return plan


def moved_value(raw: str, final: str, base_url: str | None) -> str:
    """The new value of a reference to a moved URL: the final URL, with the reference's own
    fragment kept; site-relative (``/x``) or scheme-relative (``//host/x``) as written, when
    the move allows it."""
    raw_fragment = raw.partition("#")[2] if "#" in raw else ""
    if raw_fragment and "#" not in final:
        final = f"{final}#{raw_fragment}"
    text = raw.strip()
    base = (base_url or "").rstrip("/")
    if text.startswith("/") and not text.startswith("//") and base and final.startswith(base + "/"):
        return final[len(base):]
    if text.startswith("//") and final.startswith("https://"):
        return final[len("https:"):]
    return final


def _run(db: sqlite_utils.Database, run_id: int | None) -> dict[str, Any]:
    if not db["runs"].exists():
        raise PlanError("the database has no runs (crawl first)")
    where, args = ("WHERE id = ?", [run_id]) if run_id is not None else ("", [])
    rows = list(db.query(f"SELECT * FROM runs {where} ORDER BY id DESC LIMIT 1", args))
    if not rows:
        raise PlanError(f"no run {run_id}" if run_id is not None else "the database has no runs")
    return rows[0]


def _references(db: sqlite_utils.Database, run_id: int, options: Options) -> list[dict[str, Any]]:
    only = _glob(options.only) if options.only else None
    rows = db.query(
        "SELECT d.path, d.file_digest, d.published, d.last_run_id AS document_run, r.field,"
        " r.kind, r.raw, r.url_id FROM refs r JOIN documents d ON d.id = r.document_id"
        " WHERE r.first_run_id <= :run AND r.last_run_id >= :run ORDER BY d.path, r.id",
        {"run": run_id})
    return [row for row in rows
            if (options.body or not is_body_field(row["field"]))
            and (only is None or only.fullmatch(row["field"]))]


def _glob(pattern: str) -> re.Pattern[str]:
    """``*`` matches any run of characters; everything else is itself (field paths have
    ``[``, ``]`` and ``.``, which fnmatch would read as patterns)."""
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")))


class _Lookups:
    """Wayback captures and last good snapshots of the dead URLs, read once."""

    def __init__(self, db: sqlite_utils.Database, dead: dict[int, Confirmed], root: Path):
        self.db = db
        self.root = root
        self.captures: dict[int, list[tuple[str, str]]] = defaultdict(list)
        self.copies: dict[str, bytes] = {}  # site path -> bytes, for the files to write
        self.local: dict[int, tuple[str | None, str]] = {}  # url_id -> local_copy's answer
        ids = "[" + ",".join(map(str, dead)) + "]"
        if dead and db["wayback"].exists():
            for row in db.query(
                    "SELECT url_id, around, capture_url FROM wayback WHERE status = 'found'"
                    " AND url_id IN (SELECT value FROM json_each(?)) ORDER BY around", [ids]):
                self.captures[row["url_id"]].append((row["around"], row["capture_url"]))
        self.snapshots: dict[int, dict[str, Any]] = {}
        if dead and db["snapshots"].exists():
            for row in db.query(
                    "SELECT s.url_id, s.id, s.digest, s.content_type, s.truncated FROM snapshots s"
                    " WHERE s.status BETWEEN 200 AND 299 AND s.truncated = 0"
                    " AND s.url_id IN (SELECT value FROM json_each(?)) ORDER BY s.id", [ids]):
                self.snapshots[row["url_id"]] = row  # the last one wins: the newest good copy

    def capture(self, url_id: int, published: str | None) -> str | None:
        found = self.captures.get(url_id)
        if not found:
            return None
        if not published:
            return found[-1][1]
        day = around_date(published)
        return min(found, key=lambda item: abs(_days(item[0]) - _days(day)))[1]

    def local_copy(self, url_id: int, local_dir: str) -> tuple[str | None, str]:
        """The site path of the URL's last good snapshot as a file, or None and why not
        (once per URL: a dead image is often referenced from many documents)."""
        if url_id not in self.local:
            self.local[url_id] = self._local_copy(url_id, local_dir)
        return self.local[url_id]

    def _local_copy(self, url_id: int, local_dir: str) -> tuple[str | None, str]:
        snapshot = self.snapshots.get(url_id)
        if snapshot is None:
            return None, "no archived copy"
        kind = media_type(snapshot["content_type"])
        extension = LOCAL_EXTENSIONS.get(kind)
        if extension is None:
            return None, f"no local copy of a {kind or 'untyped'} body"
        data = read_body(self.db.conn, snapshot["digest"])
        if extension == ".html":
            data = HTML_GUARD + data
        path = f"{local_dir.strip('/')}/{snapshot['digest'][:24]}{extension}"
        existing = self.root / path
        if existing.is_symlink() or existing.exists():
            # Written by an earlier fix: a new-file patch of it would not apply.
            if existing.is_symlink() or not existing.is_file() or existing.read_bytes() != data:
                return None, f"{path} is already in the site with other contents"
            return path, ""
        self.copies[path] = data
        return path, ""


def _days(day: str) -> int:
    return date.fromisoformat(day).toordinal()


def _dead_edit(ref: dict[str, Any], options: Options, lookups: _Lookups, plan: Plan,
               edits: dict[str, list[tuple[Edit, Change]]]) -> None:
    mode = options.dead.mode(ref["kind"], ref["field"])
    path, field_path, raw = ref["path"], ref["field"], ref["raw"]
    if mode == "none":
        return
    if mode == "remove":
        edits[path].append((Remove(field_path, raw), Change(path, field_path, raw, None, "removed")))
        return
    if raw.strip().startswith("/" + options.local_dir.strip("/") + "/"):
        plan.not_fixed.append(NotFixed(path, field_path, raw, "already a local copy"))
        return
    if mode == "wayback":
        capture = lookups.capture(ref["url_id"], ref["published"])
        if capture is None:
            plan.not_fixed.append(NotFixed(path, field_path, raw, "no Wayback capture (run with "
                                           "-s LINKHEALTH_WAYBACK=1 to look them up)"))
            return
        edits[path].append((Replace(field_path, raw, capture),
                            Change(path, field_path, raw, capture, "wayback")))
        return
    copy, why = lookups.local_copy(ref["url_id"], options.local_dir)
    if copy is None:
        plan.not_fixed.append(NotFixed(path, field_path, raw, why))
        return
    new = "/" + copy
    edits[path].append((Replace(field_path, raw, new), Change(path, field_path, raw, new, "local")))


def _edit_file(plan: Plan, path: str, wanted: list[tuple[Edit, Change]], digest: str | None) -> None:
    def refuse(reason: str) -> None:
        plan.not_fixed.extend(NotFixed(path, c.field, c.old, reason) for _, c in wanted)

    target = plan.root / path
    try:
        info = os.lstat(target)
    except OSError as exc:
        refuse(f"cannot read the file: {exc.strerror}")
        return
    if not stat.S_ISREG(info.st_mode):
        refuse("not a regular file (a symbolic link is not edited through)")
        return
    data = target.read_bytes()
    if digest is None or file_digest(data) != digest:
        run = plan.run["id"]
        refuse(f"the file changed since run {run} read it (crawl again, then fix)"
               if digest else "the run recorded no digest of the file (crawl again, then fix)")
        return
    result = edit_document(data, [edit for edit, _ in wanted])
    applied = set(result.applied)
    for edit, change in wanted:
        if edit in applied:
            plan.changes.append(change)
    for refusal in result.refused:
        plan.not_fixed.append(NotFixed(path, refusal.edit.field, refusal.edit.old, refusal.reason))
    if result.changed:
        plan.files.append(FileChange(path, data, result.data))


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def reason_kind(reason: str) -> str:
    """A reason's kind, for the summary: its words before the first detail."""
    return re.split(r"[(:;]| \d| '| \"", reason, maxsplit=1)[0].strip()

