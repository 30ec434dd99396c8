"""Running git in a test's own repository, untouched by the user's or the system's git config."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

# An empty global config of our own. Not os.devnull: where /dev/null is a plain file (some
# sandboxes and containers), whatever other processes wrote into it is read as git config.
_EMPTY_CONFIG = Path(tempfile.mkdtemp(prefix="linkhealth-git-")) / "config"
_EMPTY_CONFIG.write_bytes(b"")

GIT_ENV = {**os.environ, "GIT_CONFIG_GLOBAL": str(_EMPTY_CONFIG), "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t.invalid"}


def git(root: Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    """``git ARGS`` in ``root`` (``stdin`` fed to it); never raises on a failing status."""
    return subprocess.run(["git", *args], cwd=root, input=stdin, env=GIT_ENV,
                          capture_output=True, check=False)
