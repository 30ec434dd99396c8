"""What the byte-exact editing of crawler.fix costs on a synthetic site (issue 18).

```sh
.venv/bin/python -m bench.fix_bench --documents 2000
```

Writes a synthetic site (crawler/jobs/synthetic_site.py), reads every article's references with the
crawler's reader, and edits every article the way ``scrapy fix`` would at worst: each page and
image reference replaced by a Wayback URL, each AMP field removed. Prints one JSON line:
documents, edits, applied, refused (by code), seconds and ms per document for
``edit_document``, and seconds and bytes for the unified diff of all of them.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import Counter
from pathlib import Path

from crawler.fix import FileChange, Remove, Replace, edit_document, unified_diff
from crawler.jobs.synthetic_site import generate_site, host_urls
from crawler.site.sources import iter_documents


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        generate_site(root, documents=args.documents, hosts=host_urls(20, 8001), seed=args.seed)
        work = [(root / doc.path, doc.path, _edits(doc.refs)) for doc in iter_documents(root)]
        print(json.dumps(_measure(work)))


def _edits(refs) -> list[Replace | Remove]:
    edits: list[Replace | Remove] = []
    for ref in refs:
        if ref.kind == "amp":
            edits.append(Remove(ref.field, ref.value))
        elif ref.kind in ("page", "image") and ref.not_a_string is None:
            edits.append(Replace(ref.field, ref.value, f"https://web.archive.org/web/2020/{ref.value}"))
    return edits


def _measure(work) -> dict:
    files = [(path.read_bytes(), relative, edits) for path, relative, edits in work]
    started = time.perf_counter()
    cpu = time.process_time()
    results = [(relative, data, edit_document(data, edits)) for data, relative, edits in files]
    edit_seconds, edit_cpu = time.perf_counter() - started, time.process_time() - cpu
    started = time.perf_counter()
    patch = unified_diff(FileChange(relative, data, result.data) for relative, data, result in results)
    diff_seconds = time.perf_counter() - started
    refused = Counter(r.code for _, _, result in results for r in result.refused)
    return {
        "documents": len(files),
        "edits": sum(len(edits) for _, _, edits in files),
        "applied": sum(len(result.applied) for _, _, result in results),
        "refused": dict(refused),
        "edit_seconds": round(edit_seconds, 3),
        "edit_cpu_seconds": round(edit_cpu, 3),
        "ms_per_document": round(1000 * edit_seconds / max(len(files), 1), 3),
        "diff_seconds": round(diff_seconds, 3),
        "patch_bytes": len(patch),
    }


if __name__ == "__main__":
    main()
