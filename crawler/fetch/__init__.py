"""Getting bytes from the web: the download handler (``handler``) with its private-address
guard (``guard``, ``addresses``, ``allowed_hosts``), linkhealth's HTTP/1.1 client (``client``,
``message``, ``transfer_codings``), TLS verification and its diagnosis (``tls``,
``tls_diagnosis``), and how much of a body is read and decoded (``body_limit``,
``decompression``), with the downloader's stats (``download_stats``).

May import: ``crawler.core``. It judges nothing: what an answer means is ``crawler.classify``'s.
"""
