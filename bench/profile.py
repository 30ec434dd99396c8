"""Where a crawl's CPU goes: a summary of py-spy's collapsed stacks, by kind of work.

    python -m bench.profile PROFILE.txt [--top 25]

``PROFILE.txt`` is what ``py-spy record --format raw`` writes (``bench.check_bench --profile``
and ``bench.archive_bench --profile`` record one). Each sample is charged to one kind of work:
walking its stack from the innermost frame outwards, the first frame that matches a rule of
``KINDS`` decides. So time in ``sqlite3`` called from ``crawler/store/database.py`` is "SQLite", and
the Twisted client called from Scrapy's download handler is "HTTP client". Samples whose
innermost frame is the reactor waiting on epoll are "idle (waiting for the network)".

It prints the share of each kind, then the functions with the most samples of their own
(innermost frame), with their file.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from collections.abc import Iterable

# (kind, pattern on "function (file:line)"); the first rule matching the innermost frame
# that matches any rule wins.
KINDS: tuple[tuple[str, re.Pattern[str]], ...] = tuple((kind, re.compile(pattern)) for kind, pattern in (
    ("idle (waiting for the network)", r"^(poll|doPoll|select) \(.*(epollreactor|selectors)\.py"),
    ("SQLite (store, history)", r"\((crawler/(store|snapshots|history|schema)\.py|.*sqlite3/|.*sqlite_utils/)"),
    ("compression and digests", r"\(.*(zstandard|hashlib|crawler/archiver\.py|crawler/decompression\.py)"),
    ("reading the site (files, YAML)", r"\((.*crawler/(sources|references)\.py|.*yaml/|.*frontmatter/)"),
    ("URL resolving and keys", r"\((crawler/urls\.py|.*tldextract/|.*w3lib/url\.py|.*urllib/parse\.py)"),
    ("classifying answers", r"\(crawler/(classify|redirects|tls|capture)\.py"),
    ("linkhealth spider", r"\(crawler/spiders/"),
    ("HTTP client (ours, or Twisted's)",
     (r"\(.*(crawler/http_(client|message)\.py|twisted/web/|scrapy/core/downloader/handlers/"
      r"|twisted/internet/(tcp|abstract)\.py)")),
    ("linkhealth middlewares and pipeline", r"\(crawler/"),
    ("Scrapy downloader, slots and middlewares",
     r"\(.*scrapy/core/downloader/|\(.*scrapy/downloadermiddlewares/"),
    ("Scrapy scraper, items and spider middlewares",
     r"\(.*scrapy/(core/scraper|core/spidermw|spidermiddlewares|pipelines|middleware)\.?"),
    ("Scrapy requests, responses, headers", r"\(.*scrapy/(http|utils/(url|request|httpobj|python))"),
    ("Scrapy engine and scheduler", r"\(.*scrapy/(core/(engine|scheduler)|pqueues|squeues|utils/defer)"),
    ("logging and stats", r"\(.*(logging/|scrapy/statscollectors|scrapy/logformatter)"),
    ("Scrapy, other", r"\(.*scrapy/"),
    ("Twisted reactor and Deferreds", r"\(.*twisted/"),
    ("asyncio", r"\(.*asyncio/"),
))
OTHER = "other"


def parse(lines: Iterable[str]) -> list[tuple[list[str], int]]:
    """py-spy's raw lines, ``root;...;leaf COUNT``, as (frames from the leaf out, count)."""
    samples = []
    for line in lines:
        stack, _, count = line.rstrip("\n").rpartition(" ")
        if stack and count.isdigit():
            samples.append((stack.split(";")[::-1], int(count)))
    return samples


def kind_of(frames_leaf_first: list[str]) -> str:
    for frame in frames_leaf_first:
        for kind, pattern in KINDS:
            if pattern.search(frame):
                return kind
    return OTHER


def short(frame: str) -> str:
    """``func (/long/path/site-packages/scrapy/x.py:12)`` -> ``func (scrapy/x.py)``."""
    match = re.match(r"^(.*) \((.*?)(?::\d+)?\)$", frame)
    if not match:
        return frame
    function, path = match.groups()
    for marker in ("site-packages/", "/lib/python3", "/work/main/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{function} ({path})"


def summarise(samples: list[tuple[list[str], int]], top: int = 25) -> str:
    total = sum(count for _, count in samples) or 1
    kinds: Counter[str] = Counter()
    own: Counter[str] = Counter()
    for frames, count in samples:
        kinds[kind_of(frames)] += count
        own[short(frames[0])] += count
    busy = total - kinds["idle (waiting for the network)"]
    lines = [f"{total:,} samples; {busy:,} busy ({busy / total:.0%})", "",
             f"{'kind of work':48}{'samples':>9}{'of all':>8}{'of busy':>9}"]
    for kind, count in kinds.most_common():
        of_busy = "" if kind.startswith("idle") else f"{count / max(busy, 1):.0%}"
        lines.append(f"{kind:48}{count:>9,}{count / total:>8.0%}{of_busy:>9}")
    lines += ["", f"top {top} functions by own samples"]
    for function, count in own.most_common(top):
        lines.append(f"{count / total:>6.1%}  {function}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Summarise a py-spy raw profile by kind of work.")
    parser.add_argument("profile", help="py-spy record --format raw output")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    with open(args.profile, encoding="utf-8", errors="replace") as lines:
        print(summarise(parse(lines), args.top))


if __name__ == "__main__":
    main()
