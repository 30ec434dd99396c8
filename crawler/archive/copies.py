"""Archived bodies as files: the name a copy is saved or downloaded under.

Anything a browser would render as a live document (HTML, XHTML, SVG, XML, scripts) is
named as text (``.html.txt``...), so that opening a saved copy shows its source and runs
nothing; images a browser shows and never runs keep their own extension; anything else is
``.bin``. The report's copies and Datasette's downloads are named this way; ``scrapy fix``
names the site's local copies of images by the same table (``crawler.fix.plan``).
"""

from __future__ import annotations

from typing import Any

from crawler.core.media_types import media_type

SNAPSHOT_EXTENSIONS = {
    # Images a browser shows and never runs: their own extension.
    "image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif", "image/webp": ".webp",
    "image/avif": ".avif", "image/bmp": ".bmp", "image/x-icon": ".ico",
    "image/vnd.microsoft.icon": ".ico",
    # Anything a browser would render as a live document (scripts included) is saved as
    # text: opened from the report it shows its source and runs nothing.
    "text/html": ".html.txt", "application/xhtml+xml": ".xhtml.txt",
    "image/svg+xml": ".svg.txt", "text/xml": ".xml.txt", "application/xml": ".xml.txt",
    "text/plain": ".txt", "application/json": ".json.txt", "text/css": ".css.txt",
    "text/javascript": ".js.txt", "application/javascript": ".js.txt",
    "application/x-javascript": ".js.txt", "text/ecmascript": ".js.txt",
    "application/ecmascript": ".js.txt", "application/rss+xml": ".xml.txt",
    "application/atom+xml": ".xml.txt", "application/xslt+xml": ".xml.txt",
    "text/xsl": ".xml.txt",
}
"""File extension of an exported snapshot, by content type; any other type is ``.bin``."""


def snapshot_filename(snapshot: dict[str, Any]) -> str:
    """``<id><ext>``: the file name of an exported snapshot (``last_snapshot`` of an entry)."""
    return f"{int(snapshot['id'])}{SNAPSHOT_EXTENSIONS.get(media_type(snapshot.get('content_type')), '.bin')}"
