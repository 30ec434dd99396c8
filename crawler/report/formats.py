"""Every report format by name, as pieces of text to write in turn: a report of every URL
(``--all``) is hundreds of MB, which need not be held whole."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from crawler.report.csv_report import csv_chunks
from crawler.report.html import html_chunks
from crawler.report.json_report import json_chunks
from crawler.report.markdown import markdown_chunks
from crawler.report.model import Report

CHUNK_RENDERERS: dict[str, Callable[[Report], Iterator[str]]] = {
    "md": markdown_chunks, "html": html_chunks, "json": json_chunks, "csv": csv_chunks}


def render(report: Report, fmt: str) -> str:
    """The whole report in format ``fmt`` (md, html, json, csv)."""
    return "".join(CHUNK_RENDERERS[fmt](report))
