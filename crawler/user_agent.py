"""An honest User-Agent: names linkhealth and a contact URL for site owners."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler


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
        contact = settings.get("LINKHEALTH_CONTACT_URL")
        return cls(explicit or f"linkhealth/{linkhealth_version()} (link checker; +{contact})")

    def process_request(self, request: Request) -> None:
        request.headers.setdefault(b"User-Agent", self.user_agent)
