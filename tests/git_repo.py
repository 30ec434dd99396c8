"""Running git in a test's own repository, untouched by the user's or the system's git config."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

GIT_ENV = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t.invalid"}


def git(root: Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    """``git ARGS`` in ``root`` (``stdin`` fed to it); never raises on a failing status."""
    return subprocess.run(["git", *args], cwd=root, input=stdin, env=GIT_ENV,
                          capture_output=True, check=False)
