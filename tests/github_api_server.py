"""A loopback stand-in for GitHub's REST API: the endpoints the linkhealth action uses.

    with FakeGitHub(token="t0ken", remote=bare_repository) as github:
        ... GITHUB_API_URL=github.url ...
        github.issues, github.pulls, github.requests

It answers as the API does (JSON bodies, status codes, ``Link`` pagination, the error
shapes ``{"message": ..., "errors": [...]}``) and records every request. Issues and pull
requests share one numbering, and list-issues returns pull requests too, marked with a
``pull_request`` key, as GitHub's does. With ``remote`` (a bare git repository), creating a
pull request needs its head branch to exist there, as on GitHub.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from tests.git_repo import GIT_ENV

REPO_PATH = r"/repos/(?P<owner>[^/]+)/(?P<name>[^/]+)"


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body: Any


@dataclass
class State:
    repository: str
    issues: dict[int, dict[str, Any]] = field(default_factory=dict)  # pull requests too
    comments: dict[int, list[str]] = field(default_factory=dict)
    next_number: int = 1


class FakeGitHub:
    """The API on 127.0.0.1, for ``repository``, accepting only ``token``."""

    def __init__(self, token: str, repository: str = "owner/site", remote: Path | None = None,
                 page_size: int = 100, deny: tuple[str, ...] = ()) -> None:
        self.token = token
        self.remote = remote
        self.page_size = page_size  # GitHub's cap on per_page (100)
        self.deny = deny  # "POST /issues"-like prefixes (after the repository) answered 403
        self.state = State(repository)
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    @property
    def issues(self) -> list[dict[str, Any]]:
        return [i for i in self.state.issues.values() if "pull_request" not in i]

    @property
    def pulls(self) -> list[dict[str, Any]]:
        return [i for i in self.state.issues.values() if "pull_request" in i]

    def comments(self, number: int) -> list[str]:
        return self.state.comments.get(number, [])

    def writes(self) -> list[Recorded]:
        return [r for r in self.requests if r.method != "GET"]

    # -- answering -------------------------------------------------------------------------

    def answer(self, method: str, target: str, headers: dict[str, str],
               raw: bytes) -> tuple[int, Any, dict[str, str]]:
        parts = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            return 400, {"message": "Problems parsing JSON"}, {}
        with self._lock:
            self.requests.append(Recorded(method, parts.path, query, headers, body))
            if headers.get("authorization") != f"Bearer {self.token}":
                return 401, {"message": "Bad credentials",
                             "documentation_url": "https://docs.github.com/rest"}, {}
            match = re.fullmatch(REPO_PATH + r"(?P<rest>/.*)", parts.path)
            if not match or f"{match['owner']}/{match['name']}" != self.state.repository:
                return 404, {"message": "Not Found"}, {}
            rest = match["rest"]
            if any(f"{method} {rest}".startswith(prefix) for prefix in self.deny):
                return 403, {"message": "Resource not accessible by integration"}, {}
            return self._route(method, rest, query, body or {})

    def _route(self, method: str, rest: str, query: dict[str, str],
               body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        number = re.fullmatch(r"/(?:issues|pulls)/(\d+)(?:/comments)?", rest)
        if method == "GET" and rest == "/issues":
            return self._list_issues(query)
        if method == "POST" and rest == "/issues":
            return self._create(body, pull=False)
        if method == "GET" and rest == "/pulls":
            return self._list_pulls(query)
        if method == "POST" and rest == "/pulls":
            return self._create(body, pull=True)
        if number and int(number[1]) in self.state.issues:
            issue = self.state.issues[int(number[1])]
            if method == "PATCH" and not rest.endswith("/comments"):
                return self._update(issue, body)
            if method == "POST" and rest.endswith("/comments") and rest.startswith("/issues"):
                if not body.get("body"):
                    return _invalid("body", "missing_field")
                self.state.comments.setdefault(issue["number"], []).append(body["body"])
                return 201, {"id": len(self.state.comments[issue["number"]]),
                             "body": body["body"]}, {}
        return 404, {"message": "Not Found"}, {}

    def _list_issues(self, query: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        state = query.get("state", "open")
        wanted = {label for label in query.get("labels", "").split(",") if label}
        found = [i for i in sorted(self.state.issues.values(), key=lambda i: i["number"])
                 if state in ("all", i["state"])
                 and wanted <= {label["name"] for label in i["labels"]}]
        return self._page(found, query, "/issues")

    def _list_pulls(self, query: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        owner = self.state.repository.split("/")[0]
        state = query.get("state", "open")
        found = [p for p in self.pulls if state in ("all", p["state"])
                 and (not query.get("head") or query["head"] == f"{owner}:{p['head']['ref']}")
                 and (not query.get("base") or query["base"] == p["base"]["ref"])]
        return self._page(found, query, "/pulls")

    def _page(self, items: list[dict[str, Any]], query: dict[str, str],
              rest: str) -> tuple[int, Any, dict[str, str]]:
        size = min(int(query.get("per_page", 30)), self.page_size)
        page = int(query.get("page", 1))
        shown = items[(page - 1) * size: page * size]
        headers = {}
        if page * size < len(items):
            following = {**query, "page": str(page + 1)}
            link = "&".join(f"{k}={v}" for k, v in following.items())
            headers["Link"] = (f'<{self.url}/repos/{self.state.repository}{rest}?{link}>; '
                               'rel="next"')
        return 200, shown, headers

    def _create(self, body: dict[str, Any], pull: bool) -> tuple[int, Any, dict[str, str]]:
        if not body.get("title"):
            return _invalid("title", "missing_field")
        number = self.state.next_number
        kind = "pull" if pull else "issues"
        item = {"number": number, "title": body["title"], "body": body.get("body"),
                "state": "open", "state_reason": None,
                "labels": [{"name": name} for name in body.get("labels", [])],
                "html_url": f"https://github.test/{self.state.repository}/{kind}/{number}"}
        if pull:
            error = self._pull_error(body)
            if error:
                return error
            item.update(pull_request={"url": item["html_url"]}, head={"ref": body["head"]},
                        base={"ref": body["base"]})
        self.state.issues[number] = item
        self.state.next_number += 1
        return 201, item, {}

    def _pull_error(self, body: dict[str, Any]) -> tuple[int, Any, dict[str, str]] | None:
        if any(p["head"]["ref"] == body.get("head") and p["state"] == "open" for p in self.pulls):
            return 422, {"message": "Validation Failed", "errors": [{
                "message": f"A pull request already exists for {body['head']}."}]}, {}
        if self.remote is not None:
            exists = subprocess.run(["git", "rev-parse", "--verify", "--quiet",
                                     f"refs/heads/{body.get('head')}"], cwd=self.remote,
                                    env=GIT_ENV, capture_output=True).returncode == 0
            if not exists:
                return _invalid("head", "invalid")
        return None

    @staticmethod
    def _update(issue: dict[str, Any], body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        for key in ("title", "body", "state", "state_reason"):
            if key in body:
                issue[key] = body[key]
        return 200, issue, {}


def _invalid(name: str, code: str) -> tuple[int, Any, dict[str, str]]:
    return 422, {"message": "Validation Failed",
                 "errors": [{"resource": "Issue", "field": name, "code": code}]}, {}


def _handler(github: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, body, extra = github.answer(self.command, self.path, headers, raw)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = _serve

        def log_message(self, *args: object) -> None:
            pass

    return Handler
