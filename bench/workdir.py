"""Running a benchmark in a work directory: kept with --keep DIR, else temporary and removed."""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def run_in_workdir(args: argparse.Namespace, prefix: str,
                   bench: Callable[[argparse.Namespace, Path], dict[str, Any]],
                   render: Callable[[dict[str, Any]], str]) -> dict[str, Any]:
    """Run ``bench(args, work)``, print ``render(result)``, write ``--out`` JSON if asked;
    the result."""
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    work = args.keep.resolve() if args.keep else Path(tempfile.mkdtemp(prefix=prefix))
    # Readable by all, as a kept directory is: LinkChecker run as root drops to `nobody`
    # and must still read its configuration and the page of links (mkdtemp gives 0700).
    work.chmod(0o755)
    try:
        result = bench(args, work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(render(result))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result
