"""HTTP policy between the engine and the download handler, as downloader middlewares and the
scheduler's queue: retries and their backoff (``retries``), redirects (``redirects``),
HEAD then GET (``head_fallback``), conditional requests (``conditional``), what a follow-up
request sheds (``follow_up``), the User-Agent (``user_agent``), and hosts: their pace after
rate-limit answers (``host_pacing``), unresponsive or refusing ones (``host_health``), and
when a request may leave the scheduler (``host_queue``).

May import: ``crawler.run.context`` (what earlier runs left), ``crawler.classify``,
``crawler.core``, ``crawler.defaults``.
"""
