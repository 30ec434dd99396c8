"""What a failed request's exception is made of: its causes, and whether TLS failed.

Scrapy and Twisted wrap the reason a request failed: ``ResponseFailed`` and its kin carry a
list of ``reasons``, and Scrapy re-raises Twisted's errors as its own with the original as
``__cause__``. Classification, retries and host health look through all of it.
"""

from __future__ import annotations

from collections.abc import Iterator

from OpenSSL import SSL


def causes(exc: BaseException, depth: int = 0) -> Iterator[BaseException]:
    """The exception, what caused it, and the reasons Twisted wraps in ResponseFailed & co."""
    if depth > 8:
        return
    yield exc
    for nested in (exc.__cause__, exc.__context__):
        if nested is not None:
            yield from causes(nested, depth + 1)
    for reason in getattr(exc, "reasons", None) or ():
        value = getattr(reason, "value", reason)
        if isinstance(value, BaseException):
            yield from causes(value, depth + 1)


def is_tls_failure(exc: BaseException) -> bool:
    """A handshake or certificate failure anywhere in the exception's causes."""
    return any(_is_tls_exception(cause) for cause in causes(exc))


def _is_tls_exception(exc: BaseException) -> bool:
    module = type(exc).__module__
    return module.startswith(("OpenSSL", "service_identity", "ssl")) or isinstance(exc, SSL.Error)
