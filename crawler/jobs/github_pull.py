"""One pull request with ``linkhealth fix``'s patch, kept on one branch.

Each run builds the branch afresh: a commit of the patch on top of the commit the job
checked out, made in a temporary ``git worktree`` (the job's checkout stays as it was),
force-pushed to ``origin`` (the branch belongs to the action). Then the one open pull
request from that branch is updated, or opened. When the branch already holds the same
files on the same commit the push is skipped (the same files on an older commit are pushed
again: merged, the older one would undo what changed since); when the patch is empty, the
open pull request gets a comment and is closed, since nothing in it is needed any more.

Pushing uses the credentials the checkout left (``actions/checkout`` keeps its token in the
repository's git configuration); when there are none, the action's token is given to git
for the server's address only, through ``GIT_CONFIG_*`` variables, never on a command line.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crawler.jobs.actions_runner import command_environment
from crawler.jobs.github_api import GitHub

BOT_NAME = "github-actions[bot]"
BOT_EMAIL = "41898282+github-actions[bot]@users.noreply.github.com"
GIT_TIMEOUT = 300


class GitError(Exception):
    """A git command failed; the message has its last lines of output."""


@dataclass(frozen=True)
class PullResult:
    action: str  # opened, updated, closed, none
    number: int | None = None
    url: str | None = None
    pushed: bool = False


@dataclass(frozen=True)
class PullRequestOptions:
    branch: str
    base: str
    title: str
    body: str
    commit_message: str
    token: str
    server_url: str


class Git:
    """``git`` in one repository, with the bot's identity and, when needed, the token."""

    def __init__(self, root: Path, token: str = "", server_url: str = "") -> None:
        self.root = root
        self._token = token
        self.env = {**command_environment(os.environ),
                    "GIT_AUTHOR_NAME": BOT_NAME, "GIT_AUTHOR_EMAIL": BOT_EMAIL,
                    "GIT_COMMITTER_NAME": BOT_NAME, "GIT_COMMITTER_EMAIL": BOT_EMAIL,
                    "GIT_TERMINAL_PROMPT": "0"}
        # The site's hooks (pre-push, post-checkout...) would run in a worktree with none of
        # their tools installed: no hook runs ("/dev/null/HOOK" is never a file).
        self.env.update(config_entry(self.env, "core.hooksPath", os.devnull))
        if token and server_url and not self._has_credentials():
            self.env.update(credentials_config(self.env, server_url, token))

    def __call__(self, *args: str, cwd: Path | None = None, check: bool = True) -> str:
        try:
            done = subprocess.run(["git", *args], cwd=cwd or self.root, env=self.env,
                                  capture_output=True, text=True, timeout=GIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise GitError(f"git {args[0]} did not end within {GIT_TIMEOUT}s") from None
        if check and done.returncode != 0:
            said = " ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
            raise GitError(self._redact(f"git {args[0]} failed (status {done.returncode}): "
                                        f"{said}"))
        return done.stdout.strip()

    def _has_credentials(self) -> bool:
        return bool(self("config", "--get-regexp", r"^http\..*\.extraheader$", check=False))

    def _redact(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text


def config_entry(environ: Mapping[str, str], key: str, value: str) -> dict[str, str]:
    """``GIT_CONFIG_*`` variables that set ``key``, after any the environment already sets."""
    count = int(environ.get("GIT_CONFIG_COUNT") or 0)
    return {"GIT_CONFIG_COUNT": str(count + 1),
            f"GIT_CONFIG_KEY_{count}": key, f"GIT_CONFIG_VALUE_{count}": value}


def credentials_config(environ: Mapping[str, str], server_url: str, token: str) -> dict[str, str]:
    """``GIT_CONFIG_*`` variables that add the token as an authorization header for
    ``server_url`` only."""
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode("ascii")
    return config_entry(environ, f"http.{server_url.rstrip('/')}/.extraheader",
                        f"AUTHORIZATION: basic {basic}")


def propose_fix(api: GitHub, site: Path, patch: bytes, options: PullRequestOptions) -> PullResult:
    """Push the patch as one commit on ``options.branch`` and open or update its pull
    request; close it when the patch is empty. Raises ``GitError`` or ``GitHubError``."""
    pull = find_pull(api, options.branch, options.base)
    if not patch.strip():
        if pull is None:
            return PullResult("none")
        api.post(f"{api.repo_path}/issues/{pull['number']}/comments",
                 {"body": "The latest run found nothing left to fix. Closing."})
        api.patch(f"{api.repo_path}/pulls/{pull['number']}", {"state": "closed"})
        return PullResult("closed", pull["number"], pull["html_url"])
    pushed = push_fix(Git(site, options.token, options.server_url), site, patch, options)
    fields = {"title": options.title, "body": options.body}
    if pull is not None:
        api.patch(f"{api.repo_path}/pulls/{pull['number']}", fields)
        return PullResult("updated", pull["number"], pull["html_url"], pushed)
    made = api.post(f"{api.repo_path}/pulls",
                    {**fields, "head": options.branch, "base": options.base})
    return PullResult("opened", made["number"], made["html_url"], pushed)


def find_pull(api: GitHub, branch: str, base: str) -> dict[str, Any] | None:
    owner = api.repository.split("/")[0]
    pulls = api.get(f"{api.repo_path}/pulls",
                    {"state": "open", "head": f"{owner}:{branch}", "base": base})
    return min(pulls, key=lambda pull: pull["number"]) if pulls else None


def push_fix(git: Git, site: Path, patch: bytes, options: PullRequestOptions) -> bool:
    """Commit the patch on the checked-out commit and force-push it to the branch; False
    when the branch already is that: the same files on the same commit (nothing pushed)."""
    top = Path(git("rev-parse", "--show-toplevel"))
    within = site.resolve().relative_to(top.resolve()).as_posix()
    with _worktree(git, top) as tree, tempfile.NamedTemporaryFile(suffix=".patch") as file:
        file.write(patch)
        file.flush()
        directory = [] if within == "." else ["--directory", within]
        git("apply", "--index", *directory, file.name, cwd=tree)
        git("-c", "commit.gpgsign=false", "commit", "--no-verify", "--quiet",
            "-m", options.commit_message, cwd=tree)
        if _branch_tip(git, tree, options.branch) == _tree_and_parents(git, tree, "HEAD"):
            return False
        git("push", "--force", "--no-verify", "--quiet", "origin",
            f"HEAD:refs/heads/{options.branch}", cwd=tree)
        return True


def _branch_tip(git: Git, tree: Path, branch: str) -> tuple[str, ...] | None:
    """The tree and parents of the branch's commit on ``origin``; None without the branch."""
    ref = f"refs/heads/{branch}"
    if not git("ls-remote", "--heads", "origin", ref, cwd=tree):
        return None
    git("fetch", "--quiet", "--no-tags", "--depth=1", "origin", ref, cwd=tree)
    return _tree_and_parents(git, tree, "FETCH_HEAD")


def _tree_and_parents(git: Git, tree: Path, commit: str) -> tuple[str, ...]:
    """From the commit object itself: a shallow fetch knows no parents, its object does."""
    header = git("cat-file", "commit", commit, cwd=tree).split("\n\n", 1)[0]
    return tuple(line.split()[1] for line in header.splitlines()
                 if line.startswith(("tree ", "parent ")))


@contextlib.contextmanager
def _worktree(git: Git, top: Path) -> Iterator[Path]:
    """A detached worktree of HEAD in a temporary directory, removed afterwards."""
    parent = Path(tempfile.mkdtemp(prefix="linkhealth-fix-"))
    tree = parent / "tree"
    git("worktree", "add", "--quiet", "--detach", str(tree), "HEAD", cwd=top)
    try:
        yield tree
    finally:
        git("worktree", "remove", "--force", str(tree), cwd=top, check=False)
        git("worktree", "prune", cwd=top, check=False)
        shutil.rmtree(parent, ignore_errors=True)
