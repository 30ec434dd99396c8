"""A small client of GitHub's REST API (urllib only), for the action's issue and pull request.

    api = GitHub("https://api.github.com", "owner/site", token)
    issue = api.post("/repos/owner/site/issues", {"title": "...", "body": "..."})

Every failure is one ``GitHubError`` whose message says what was asked, what GitHub
answered, and what to do about it (a refused token, a missing permission, the rate limit,
an address that does not answer). The token goes only into the ``Authorization`` header:
never into a message, and a message that somehow holds it has it replaced by ``***``.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from email.message import Message
from typing import Any

API_VERSION = "2022-11-28"
USER_AGENT = "linkhealth-action"
MAX_ANSWER_BYTES = 16 * 1024 * 1024  # a JSON answer of the endpoints used is far smaller
PERMISSIONS_HELP = ("check the token's permissions: the job needs `permissions:` "
                    "`issues: write` for the issue, `contents: write` and "
                    "`pull-requests: write` for the pull request")


class GitHubError(Exception):
    """A request to the GitHub API failed; ``status`` is the HTTP status (0: no answer)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class GitHub:
    """The REST API at ``api_url`` (``GITHUB_API_URL``) for one repository, with one token."""

    def __init__(self, api_url: str, repository: str, token: str, timeout: float = 30) -> None:
        if not api_url.lower().startswith(("https://", "http://")):
            raise GitHubError(f"GITHUB_API_URL is not an http(s) URL: {api_url!r}")
        if repository.count("/") != 1 or not all(repository.split("/")):
            raise GitHubError(f"GITHUB_REPOSITORY is not OWNER/NAME: {repository!r}")
        if not token:
            raise GitHubError("no token: the action's `token` input is empty "
                              "(its default is `${{ github.token }}`)")
        self.api_url = api_url.rstrip("/")
        self.repository = repository
        self._token = token
        self.timeout = timeout

    @property
    def repo_path(self) -> str:
        return f"/repos/{self.repository}"

    def get(self, path: str, query: Mapping[str, Any] | None = None) -> Any:
        return self.request("GET", path, query=query)[0]

    def post(self, path: str, body: Mapping[str, Any]) -> Any:
        return self.request("POST", path, body=body)[0]

    def patch(self, path: str, body: Mapping[str, Any]) -> Any:
        return self.request("PATCH", path, body=body)[0]

    def pages(self, path: str, query: Mapping[str, Any], max_pages: int = 10) -> Iterator[Any]:
        """The items of a list endpoint, page after page (``Link: <...>; rel="next"``)."""
        url: str | None = self._url(path, {"per_page": 100, **query})
        for _ in range(max_pages):
            if url is None:
                return
            items, headers = self._send("GET", url, None)
            yield from items
            url = next_page(headers.get("Link", ""))
            if url is not None and not url.startswith(self.api_url + "/"):
                return  # the token goes to the API's own address only

    def request(self, method: str, path: str, query: Mapping[str, Any] | None = None,
                body: Mapping[str, Any] | None = None) -> tuple[Any, Message]:
        return self._send(method, self._url(path, query), body)

    # -- the wire ---------------------------------------------------------------------------

    def _url(self, path: str, query: Mapping[str, Any] | None) -> str:
        url = self.api_url + path
        return url + "?" + urllib.parse.urlencode(query) if query else url

    def _send(self, method: str, url: str, body: Mapping[str, Any] | None) -> tuple[Any, Message]:
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(url, data=data, method=method, headers={
            "Accept": "application/vnd.github+json", "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": USER_AGENT, "Authorization": f"Bearer {self._token}",
            **({"Content-Type": "application/json"} if data is not None else {})})
        what = f"{method} {urllib.parse.urlsplit(url).path}"
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                raw = answer.read(MAX_ANSWER_BYTES + 1)
                headers = answer.headers
        except urllib.error.HTTPError as exc:
            with exc:
                raise self._refused(what, exc) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise GitHubError(self._redact(
                f"{what}: the GitHub API at {self.api_url} does not answer: {reason}")) from None
        if len(raw) > MAX_ANSWER_BYTES:
            raise GitHubError(f"{what}: the answer is larger than {MAX_ANSWER_BYTES} bytes")
        try:
            return (json.loads(raw) if raw.strip() else None), headers
        except ValueError:
            raise GitHubError(f"{what}: the answer is not JSON ({raw[:80]!r})") from None

    def _refused(self, what: str, exc: urllib.error.HTTPError) -> GitHubError:
        detail = answer_message(exc.read(64 * 1024))
        message = f"{what}: GitHub answered {exc.code}" + (f" ({detail})" if detail else "")
        if exc.code == 401:
            message += "; the token was refused: check the action's `token` input"
        elif exc.code in (403, 429) and (exc.headers.get("X-RateLimit-Remaining") == "0"
                                          or exc.headers.get("Retry-After")):
            message += "; the API's rate limit is reached: try again later"
        elif exc.code in (403, 404):
            message += "; " + PERMISSIONS_HELP
        return GitHubError(self._redact(message), exc.code)

    def _redact(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text


def answer_message(raw: bytes) -> str:
    """GitHub's own words from an error answer: ``message`` and any ``errors``, one line."""
    try:
        answer = json.loads(raw)
    except ValueError:
        return " ".join(raw[:200].decode("utf-8", "replace").split())
    if not isinstance(answer, dict):
        return ""
    parts = [str(answer.get("message", "")),
             *(str(error.get("message") or error.get("code") or error)
               if isinstance(error, dict) else str(error)
               for error in answer.get("errors") or [])]
    return " ".join("; ".join(p for p in parts if p).split())[:500]


def next_page(link: str) -> str | None:
    """The ``rel="next"`` URL of a ``Link`` header, or None on the last page."""
    for part in link.split(","):
        target, _, params = part.partition(";")
        if 'rel="next"' in params.replace(" ", ""):
            return target.strip().strip("<>")
    return None
