"""An honest User-Agent: names linkhealth and a contact URL for site owners."""

from __future__ import annotations

import logging
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler


logger = logging.getLogger(__name__)


def user_agent(contact: str | None) -> str:
    """``linkhealth/VERSION (link checker; +CONTACT)``, without the contact part when unset."""
    suffix = f"; +{contact}" if contact else ""
    return f"linkhealth/{linkhealth_version()} (link checker{suffix})"


def linkhealth_version() -> str:
    try:
        return version("linkhealth")
    except PackageNotFoundError:
        return "dev"


class UserAgentMiddleware:
    def __init__(self, user_agent: str):
        self.user_agent = user_agent

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> UserAgentMiddleware:
        settings = crawler.settings
        explicit = settings.get("LINKHEALTH_USER_AGENT")
        if explicit:
            return cls(explicit)
        contact = settings.get("LINKHEALTH_CONTACT_URL")
        if not contact:
            logger.warning("LINKHEALTH_CONTACT_URL is not set: site owners cannot tell who runs "
                           "this crawl (-s LINKHEALTH_CONTACT_URL=https://your.site/about-the-bot)")
        return cls(user_agent(contact))

    def process_request(self, request: Request) -> None:
        request.headers.setdefault(b"User-Agent", self.user_agent)
