"""Every ``LINKHEALTH_*`` setting: name, default and one line of help.

This table is the single place a setting is declared. ``crawler/settings.py``
loads the defaults from it, ``docs/configuration.md`` documents each one (its settings
table is this module's output, and a test checks that), and components read them with
Scrapy's typed getters.

    python -m crawler.defaults                 # print the Markdown table
    python -m crawler.defaults --write [FILE]  # rewrite it in docs/configuration.md (or FILE)
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("LINKHEALTH_DB", "state/linkhealth.db", "Path of the SQLite database (created if missing)."),
    Setting("LINKHEALTH_CONTACT_URL", "",
            "Contact URL put in the User-Agent so site owners can reach whoever runs the crawl "
            "(set it; a crawl without one logs a warning)."),
    Setting("LINKHEALTH_USER_AGENT", "",
            "User-Agent header; empty builds 'linkhealth/VERSION (link checker; +CONTACT_URL)'."),
    Setting("LINKHEALTH_ALLOW_PRIVATE", False,
            "Allow requests to loopback, private, link-local, multicast and reserved addresses "
            "(off: such URLs are recorded as forbidden_address)."),
    Setting("LINKHEALTH_ALLOW_HOSTS", [],
            "HOST:PORT pairs ([IPV6]:PORT) exempt from the private-address guard; a HOST "
            "without a port is exempt on its scheme's default port only (80, 443). Any other "
            "private address or port, also as a redirect target, is still refused."),
    Setting("LINKHEALTH_EXCLUDE", [],
            "Regular expressions (comma-separated on the command line); a matching URL is not "
            "requested and is recorded as excluded."),
    Setting("LINKHEALTH_HEAD_FIRST", True,
            "With archiving off: check with HEAD first and confirm any non-2xx answer with GET "
            "(off: GET only)."),
    Setting("LINKHEALTH_ARCHIVE", True,
            "Fetch with GET and archive a snapshot of every page and image that answers 2xx "
            "(off: checking only, HEAD first)."),
    Setting("LINKHEALTH_ARCHIVE_TYPES", ["text/html", "application/xhtml+xml", "image/*"],
            "Content types archived (a trailing /* matches a whole family)."),
    Setting("LINKHEALTH_ARCHIVE_MAX_BYTES", 10 * 1024 * 1024,
            "Largest body archived; a longer one is cut there and flagged truncated."),
    Setting("LINKHEALTH_ARCHIVE_TRUNCATED", True,
            "Keep truncated bodies (flagged); off: a body over the cap is not archived at all."),
    Setting("LINKHEALTH_ARCHIVE_ZSTD_LEVEL", 3, "zstandard compression level of stored bodies."),
    Setting("LINKHEALTH_SNAPSHOT_MIN_AGE", "7d",
            "A changed body is stored as a new snapshot only when the previous one is older "
            "than this (durations: 90s, 45m, 12h, 7d)."),
    Setting("LINKHEALTH_RECHECK_AFTER", "0",
            "Healthy URLs checked more recently than this are not requested again "
            "(0: check everything every run); failing URLs always are."),
    Setting("LINKHEALTH_WAYBACK", False,
            "Look up the Wayback Machine capture closest to the referencing article's "
            "publish date for every failing URL (CDX API)."),
    Setting("LINKHEALTH_WAYBACK_CDX_URL", "https://web.archive.org/cdx/search/cdx",
            "The CDX API endpoint."),
    Setting("LINKHEALTH_WAYBACK_PLAYBACK_URL", "https://web.archive.org/web/",
            "Prefix of capture links: PREFIX + timestamp + '/' + URL."),
    Setting("LINKHEALTH_WAYBACK_WINDOW", "365d",
            "Captures are searched this far before and after the publish date."),
    Setting("LINKHEALTH_WAYBACK_RECHECK", "30d",
            "A URL with no capture is looked up again after this long."),
    Setting("LINKHEALTH_WAYBACK_DELAY", 1.0,
            "Seconds between two CDX requests (one at a time; 429 honours Retry-After)."),

    Setting("LINKHEALTH_BROKEN_AFTER", 2,
            "Reports count a link as broken only after it failed in this many consecutive "
            "checks; newer failures are listed as failing, not yet confirmed."),
    Setting("LINKHEALTH_BODY_PEEK_BYTES", 65536,
            "Bytes of an HTML GET body kept for classification (soft-404 detection); the rest is not downloaded."),
    Setting("LINKHEALTH_RETRY_BACKOFF_BASE", 1.0,
            "Seconds before the first retry of a transient failure; doubles with each further retry."),
    Setting("LINKHEALTH_RETRY_BACKOFF_MAX", 60.0, "Upper bound, in seconds, of the exponential backoff."),
    Setting("LINKHEALTH_RETRY_AFTER_MAX", 120.0,
            "Longest Retry-After (seconds) honoured on 429/503, as a pause of the whole host; "
            "a longer one is capped to this."),
    Setting("LINKHEALTH_RATE_LIMIT_RETRIES", 6,
            "Retries of a request answered 429 (or 503 with Retry-After) while its host is paced; "
            "they do not count against RETRY_TIMES. After them the URL is blocked, and a host "
            "that gave this many rate-limit answers in a row is treated as refusing."),
    Setting("LINKHEALTH_UNRESPONSIVE_AFTER", 5,
            "Consecutive timeouts or connection failures, from a host that has not answered in "
            "this run, after which it is probed one request at a time and the URLs waiting for "
            "it are settled without a request (0: request every URL)."),
    Setting("LINKHEALTH_CA_BUNDLE", "",
            "PEM file of extra trusted CA certificates, added to the system trust store."),
    Setting("LINKHEALTH_VERIFY_TLS", True,
            "Verify TLS certificates (off: a broken certificate is not reported as tls_error)."),
    Setting("LINKHEALTH_LEAN_CLIENT", True,
            "Send requests with linkhealth's lean HTTP/1.1 client (off: Scrapy's, which costs more CPU per request)."),
    Setting("LINKHEALTH_BATCH_SIZE", 500, "Items written to SQLite per transaction."),
    Setting("LINKHEALTH_DB_TIMEOUT", 30.0,
            "Seconds a write waits for another writer's lock before it counts as failed."),
    Setting("LINKHEALTH_WRITE_ATTEMPTS", 5,
            "Failed batch writes (database locked, disk full) are kept and tried again at "
            "each flush; after this many failures in a row the crawl stops cleanly."),
    Setting("LINKHEALTH_FLUSH_SECONDS", 2.0,
            "Longest time an item waits in memory before its batch is committed."),
    Setting("LINKHEALTH_READ_BATCH", 100,
            "Documents read and parsed per step in a worker thread while the crawl runs."),
    Setting("LINKHEALTH_GC_THRESHOLD", 10_000,
            "Allocations between two collections of Python's youngest garbage-collector "
            "generation during the crawl; above 0, what is alive when the crawl starts is also "
            "frozen out of the collector's sight (0: Python's defaults)."),
    Setting("LINKHEALTH_MAX_FILE_BYTES", 16 * 1024 * 1024,
            "Largest file of the site read; a larger one is recorded as a document with an "
            "error, and at most this many bytes (plus one) are ever read from a file."),
    Setting("LINKHEALTH_FOLLOW_SYMLINKS", False,
            "Read files and enter directories through symbolic links that lead outside the "
            "site (each directory once); off: only links to regular files inside the site are "
            "read, and the others are recorded with the reason."),
    Setting("LINKHEALTH_MAX_YAML_NODES", 100_000,
            "Front matter with more YAML nodes than this, counting each use of an alias "
            "(an alias bomb), is recorded as a parse error and not built."),
    Setting("LINKHEALTH_MAX_REFS_PER_DOCUMENT", 10_000,
            "Link references checked per document; a document with more is recorded with "
            "an error and only its first ones are checked."),
    Setting("LINKHEALTH_READ_PROCESS_AFTER", 500,
            "Once this many documents were read in the crawl's process, the rest of the site is "
            "read in one worker process, two batches ahead (0: never)."),
    Setting("LINKHEALTH_SKIP_UNCHANGED", True,
            "A document whose bytes are the ones recorded in its last run is not parsed again: "
            "its references come from the database (off: parse every document)."),
    Setting("LINKHEALTH_PROGRESS_INTERVAL", 30.0,
            "Seconds between two progress lines (URLs done/known, rate, ETA) in the log when "
            "stderr is not a terminal; on a terminal a live line is redrawn instead. 0: no progress."),
    Setting("LINKHEALTH_REDIS_URL", "",
            "Redis holding the shared frontier of a distributed run (redis://HOST:PORT/DB); "
            "empty: the crawl runs in one process (docs/scale-out.md). Also read from the "
            "environment variable of the same name, which keeps a password off command lines."),
    Setting("LINKHEALTH_REDIS_SECRET", "",
            "Key every process of a distributed run signs and checks what crosses Redis with "
            "(the same on all, 16+ characters); give it in the environment variable of the "
            "same name, not with -s."),
    Setting("LINKHEALTH_REDIS_PREFIX", "linkhealth", "Prefix of every Redis key linkhealth uses."),
    Setting("LINKHEALTH_REDIS_LEASE", 30.0,
            "Seconds a worker's hold on a host lasts without renewal; a killed worker's "
            "requests go back to the frontier after this."),
    Setting("LINKHEALTH_REDIS_WAIT", 60.0,
            "Seconds an unreachable Redis is retried before a worker or the coordinator stops."),
    Setting("LINKHEALTH_REDIS_POLL", 0.2,
            "Seconds between two polls of the frontier (workers) and of the results (coordinator)."),
)

DEFAULTS: dict[str, Any] = {s.name: s.default for s in SETTINGS}


# The generated table sits between these two lines of docs/configuration.md.
TABLE_START = "<!-- settings table: generated by `python -m crawler.defaults --write` -->"
TABLE_END = "<!-- end of the settings table -->"
DOCUMENT = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def markdown_table() -> str:
    """The settings table of ``docs/configuration.md`` (``python -m crawler.defaults`` prints it)."""
    rows = ["| setting | default | meaning |", "|---|---|---|"]
    for s in SETTINGS:
        default = s.default if isinstance(s.default, str) else json.dumps(s.default)
        rows.append(f"| `{s.name}` | `{default or chr(34) * 2}` | {s.help} |")
    return "\n".join(rows)


def with_table(text: str) -> str:
    """``text`` with whatever lies between the table's markers replaced by the table."""
    start = text.find(TABLE_START)
    end = text.find(TABLE_END, start + 1)
    if start < 0 or end < 0:
        raise ValueError(f"no settings table: the lines {TABLE_START!r} and {TABLE_END!r} "
                         "must enclose it")
    return f"{text[:start + len(TABLE_START)]}\n{markdown_table()}\n{text[end:]}"


def main(argv: list[str]) -> int:
    if not argv:
        print(markdown_table())
        return 0
    if argv[0] != "--write" or len(argv) > 2:
        print("usage: python -m crawler.defaults [--write [FILE]]", file=sys.stderr)
        return 2
    path = Path(argv[1]) if len(argv) == 2 else DOCUMENT
    try:
        text = path.read_text(encoding="utf-8")
        new = with_table(text)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        print(f"{path}: {exc}", file=sys.stderr)
        return 1
    if new != text:
        path.write_text(new, encoding="utf-8")
    print(f"{path}: the settings table is {'rewritten' if new != text else 'up to date'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
