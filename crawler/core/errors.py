"""Exceptions raised inside the crawl; the classifier turns each into an outcome."""

from __future__ import annotations

from scrapy.exceptions import CannotResolveHostError, IgnoreRequest


class ForbiddenAddress(IgnoreRequest):
    """The URL's host is (or resolves to) an address we must not contact."""


class TooManyRedirects(IgnoreRequest):
    """A redirect loop, or a chain longer than ``REDIRECT_MAX_TIMES``.

    ``chain`` is the list of ``(url, status)`` hops seen before giving up.
    """

    def __init__(self, message: str, chain: list[tuple[str, int]]):
        super().__init__(message)
        self.chain = chain


class HostNotFound(CannotResolveHostError):
    """The name does not exist (NXDOMAIN); unlike a failed lookup it is not retried."""


class SettledByHost(IgnoreRequest):
    """The URL's host gives nothing, unresponsive or refusing (``crawler.policy.host_health``): the
    check is settled with the host's ``outcome`` after ``attempts`` requests (0: never
    requested)."""

    def __init__(self, message: str, outcome: str, attempts: int):
        super().__init__(message)
        self.outcome = outcome
        self.attempts = attempts
