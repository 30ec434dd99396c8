"""Peak memory of one crawl through every hostile server at once.

    python -m bench.hostile_rss

Runs the scenario of tests/hostile_scenario.py (a 3 GiB body, an endless one, a
1 GiB gzip bomb, a trickle, Content-Length lies, a header flood, a 1 MiB header
line, redirects to file:/ftp:/data: and private addresses, a non-HTTP answer, a
server that never answers, three broken certificates) as a real `scrapy crawl`,
and prints its outcomes, wall time and peak RSS.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

from bench.large_site import log_value
from tests import hostile_scenario as scenario
from tests.crawl import crawl, write_site


def main() -> None:
    with tempfile.TemporaryDirectory() as work, ExitStack() as stack:
        tmp = Path(work)
        plain, tls, bundle = scenario.start_servers(stack, tmp)
        expected = scenario.urls(plain, tls)
        site = write_site(tmp / "site", scenario.site_documents(expected))
        started = time.monotonic()
        result = crawl(site, tmp / "db.sqlite", settings=scenario.settings(plain, tls, bundle))
        wall = time.monotonic() - started
        peak = int(log_value(r"'linkhealth/peak_rss_bytes': (\d+)", result.log))
        fetched = int(log_value(r"'linkhealth/archive/bytes_fetched': (\d+)", result.log))
        outcomes = Counter(row["outcome"] for row in result.db.query("SELECT outcome FROM checks"))
    print(f"hostile servers: {len(expected)} URLs, outcomes {json.dumps(dict(sorted(outcomes.items())))}")
    print(f"wall seconds:    {wall:.1f} (DOWNLOAD_TIMEOUT=2 for the trickle and the silent server)")
    print(f"body bytes read: {fetched / 2**20:.1f} MiB (every body cut at LINKHEALTH_ARCHIVE_MAX_BYTES)")
    print(f"peak RSS:        {peak / 2**20:.0f} MiB (limit 300 MiB)")


if __name__ == "__main__":
    main()
