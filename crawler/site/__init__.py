"""Reading the site: which files are documents (``files``), their front matter within bounds
(``sources``, ``bounded_yaml``), the link references in it (``references``), a batch at a time
in a thread or a worker process (``reader``), and the documents unchanged since their last
run (``unchanged_documents``).

May import: ``crawler.core``, ``crawler.defaults``. Nothing here knows about HTTP or storage.
"""
