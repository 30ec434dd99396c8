"""Archived snapshots in Datasette, without ever rendering an archived page on its origin.

Route ``/-/linkhealth/snapshot/<database>/<id>`` serves a snapshot's decoded body:

- Raster images (``image/*`` except SVG) inline, with their own media type, so the
  browser can only decode them as an image.
- Everything else (HTML, SVG, XML, anything) as ``Content-Disposition: attachment`` with
  ``Content-Type: application/octet-stream``. The stored type is whatever the archived
  server said; ``attachment`` alone is advice a client may ignore (a browser or proxy that
  opens it inline would render ``text/html`` on Datasette's origin), while
  ``application/octet-stream`` with ``nosniff`` is rendered as a document by no browser.
- The download is named as the report's copies are (``crawler.report.snapshot_files``):
  ``snapshot-N.html.txt``, ``.svg.txt``, ``.js.txt``..., raster images by their type, and
  ``.bin`` for anything else. A downloaded ``snapshot-N.html`` would run the archived
  page's script when opened, on the ``file://`` origin; a ``.txt`` shows its source.
- Every answer, 404s included, carries ``X-Content-Type-Options: nosniff`` and
  ``Content-Security-Policy: sandbox``: should anything still render it, it runs in an
  opaque origin with scripts off.

``render_cell`` links the snapshots table (its content_type column; Datasette does not
pass the primary key column to plugins) and every ``snapshot_id`` column to that route,
with a thumbnail for images. Read-only: it only SELECTs, through Datasette's database API.
"""

from __future__ import annotations

import re
import sqlite3

from datasette import hookimpl
from datasette.utils import tilde_decode, tilde_encode
from datasette.utils.asgi import Response
from markupsafe import Markup, escape

from crawler.archive.copies import snapshot_filename
from crawler.store.snapshots import read_body

ROUTE = "/-/linkhealth/snapshot/{database}/{id}"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "sandbox",
    "Cache-Control": "private, max-age=3600",
}
_IMAGE = re.compile(r"image/[a-z0-9][a-z0-9.+-]*")


def image_type(content_type: str | None) -> str | None:
    """The media type to serve inline, or None when the body must be a download.

    SVG is an image that can carry script, so it is a download like HTML."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media if _IMAGE.fullmatch(media) and "svg" not in media else None


def filename(snapshot_id: int, content_type: str | None) -> str:
    """``snapshot-<id><ext>``: the report's name for the copy, which never runs when opened."""
    return "snapshot-" + snapshot_filename({"id": snapshot_id, "content_type": content_type})


def snapshot_url(datasette, database: str, snapshot_id: int) -> str:
    return datasette.urls.path(ROUTE.format(database=tilde_encode(database), id=int(snapshot_id)))


def _not_found(message: str) -> Response:
    return Response.text(message, status=404, headers=dict(SECURITY_HEADERS))


async def serve_snapshot(datasette, request):
    database, snapshot_id = tilde_decode(request.url_vars["database"]), int(request.url_vars["id"])
    try:
        db = datasette.get_database(database)
    except KeyError:
        return _not_found(f"No database {database}")
    await datasette.ensure_permissions(request.actor, [
        ("view-table", (database, "snapshots")), ("view-database", database), "view-instance"])
    try:
        rows = (await db.execute(
            "SELECT id, content_type, digest, truncated FROM snapshots WHERE id = ?", [snapshot_id])).rows
    except sqlite3.Error:  # not a linkhealth database
        rows = []
    if not rows:
        return _not_found(f"No snapshot {snapshot_id}")
    snapshot = rows[0]
    try:
        body = await db.execute_fn(lambda conn: read_body(conn, snapshot["digest"]))
    except KeyError:
        return _not_found(f"The body of snapshot {snapshot_id} is not stored")
    name = filename(snapshot_id, snapshot["content_type"])
    media = image_type(snapshot["content_type"])
    headers = dict(SECURITY_HEADERS)
    headers["Content-Disposition"] = f'{"inline" if media else "attachment"}; filename="{name}"'
    if snapshot["truncated"]:
        headers["X-Linkhealth-Truncated"] = "1"
    return Response(body, status=200, headers=headers,
                    content_type=media or "application/octet-stream")


@hookimpl
def register_routes():
    return [(r"^/-/linkhealth/snapshot/(?P<database>[^/]+)/(?P<id>\d+)$", serve_snapshot)]


def _link(datasette, database: str, snapshot_id: int, content_type: str | None) -> Markup:
    url = escape(snapshot_url(datasette, database, snapshot_id))
    if image_type(content_type):
        return Markup(f'<a href="{url}"><img src="{url}" alt="snapshot {int(snapshot_id)}"'
                      f' style="max-width:64px;max-height:64px;vertical-align:middle">'
                      f' view image</a>')
    return Markup(f'<a href="{url}" download>download</a>')


@hookimpl
def render_cell(row, value, column, table, database, datasette):
    if table == "snapshots" and column == "content_type":
        try:
            snapshot_id = int(row["id"])
        except (IndexError, KeyError, TypeError, ValueError):
            return None
        return Markup(f"{escape(value or '')} ") + _link(datasette, database, snapshot_id, value)
    if column != "snapshot_id" or value in (None, ""):
        return None
    raw = value["value"] if isinstance(value, dict) else value  # an expanded foreign key

    async def snapshot_link():
        try:
            snapshot_id = int(raw)
            rows = (await datasette.get_database(database).execute(
                "SELECT content_type FROM snapshots WHERE id = ?", [snapshot_id])).rows
        except (KeyError, TypeError, ValueError, sqlite3.Error):  # not a linkhealth snapshot id
            return None
        if not rows:
            return None
        row_url = escape(datasette.urls.row(database, "snapshots", str(snapshot_id)))
        return (Markup(f'<a href="{row_url}">{snapshot_id}</a> ')
                + _link(datasette, database, snapshot_id, rows[0]["content_type"]))

    return snapshot_link
