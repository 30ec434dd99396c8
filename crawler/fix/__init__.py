"""Turning the broken-link report into reviewed edits of a site's files, byte-exact.

Pure functions over bytes and text: no Scrapy, no database, no network. The modules:

* ``edits``: what an edit is (``Replace``, ``Remove``), and how a refused one is reported
  (``Refusal``, its ``code`` and ``reason``).
* ``document_edit``: ``edit_document``, every edit of one file applied together, each one
  proven by reading the result back the way the crawler reads it.
* ``document_text``: a file's bytes as the reader sees them (BOM, front matter, body).
* ``yaml_spans``: a field path (``related[2].images[0].url``) to the YAML node written for it.
* ``quoting``: a new scalar written in the style of the one it replaces.
* ``entry_removal``: the text to cut to drop one ``key: value`` entry.
* ``body_links``: a link in the Markdown/HTML body, by line.
* ``readback``: the proof that an edited file reads as intended, and nothing else changed.
* ``unified_diff``: a patch ``git apply`` accepts from the site's root.
* ``apply``: writing the edited files in place, atomically.
* ``binary_patch``: a new file of any bytes (a local copy) as a git binary patch.
* ``plan``: what ``scrapy fix`` changes, read from a run's database.

May import: ``crawler.report`` (which references are confirmed moved or dead),
``crawler.site`` (the reader's own parsing), ``crawler.store``, ``crawler.archive``,
``crawler.core``.
"""

from crawler.fix.apply import StaleFile, apply_changes, write_atomically
from crawler.fix.body_links import replace_in_body
from crawler.fix.document_edit import EditResult, edit_document
from crawler.fix.edits import Edit, EditRefused, Refusal, Remove, Replace
from crawler.fix.unified_diff import FileChange, unified_diff

__all__ = [
    "Edit", "EditRefused", "EditResult", "FileChange", "Refusal", "Remove", "Replace", "StaleFile",
    "apply_changes", "edit_document", "replace_in_body", "unified_diff", "write_atomically",
]
