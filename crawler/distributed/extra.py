"""Whether the ``[distributed]`` extra (redis, scrapy-redis) is installed, asked without
importing it: a plain crawl never loads redis (93 ms at every start), and a distributed one
without it should stop with one line, not an ImportError's traceback."""

from __future__ import annotations

import importlib.util

REQUIRES = ("redis", "scrapy_redis")
INSTALL = "pip install 'linkhealth[distributed]'"


def missing_extra() -> str | None:
    """What to say when a distributed run cannot start for lack of the extra, or None."""
    absent = [name for name in REQUIRES if importlib.util.find_spec(name) is None]
    if not absent:
        return None
    return (f"a distributed run needs {' and '.join(absent)} (the [distributed] extra): "
            f"{INSTALL}")
