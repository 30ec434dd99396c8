"""What a step of a GitHub Actions job reads from and writes to its runner.

The runner hands a step its inputs and context in environment variables and takes its
results in files whose paths are in other environment variables:

* inputs: ``INPUT_<NAME>`` (upper case; a composite action sets them itself, in its step's
  ``env``, with ``-`` written as ``_``: ``fail-on`` is ``INPUT_FAIL_ON``);
* outputs: ``name=value`` lines, or ``name<<DELIMITER`` blocks for a value of many lines,
  appended to the file at ``GITHUB_OUTPUT``;
* the job summary: Markdown appended to the file at ``GITHUB_STEP_SUMMARY``, which GitHub
  refuses whole above 1 MiB per step (``SUMMARY_LIMIT``);
* log annotations: ``::error::``, ``::warning::`` and ``::notice::`` lines on stdout;
  ``::group::``/``::endgroup::`` to fold a part of the log, ``::stop-commands::TOKEN`` and
  ``::TOKEN::`` to print text that must not act as such a line.

Outside a runner (the variables unset) outputs and the summary are skipped and the log lines
print as they are, so the job also runs on a workstation.
"""

from __future__ import annotations

import contextlib
import os
import sys
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

SUMMARY_LIMIT = 1024 * 1024  # bytes: GitHub drops a step summary above this
TRUE_WORDS = frozenset({"true", "True", "TRUE"})  # the YAML 1.2 core schema's booleans,
FALSE_WORDS = frozenset({"false", "False", "FALSE", ""})  # as @actions/core getBooleanInput


class InputError(ValueError):
    """An input has a value the action cannot use; the message names it."""


def input_variable(name: str) -> str:
    """The environment variable of input ``name``: ``fail-on`` -> ``INPUT_FAIL_ON``."""
    return "INPUT_" + name.replace(" ", "_").replace("-", "_").upper()


class Runner:
    """One step's view of the runner: its environment, its output files, its log."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ = dict(os.environ if environ is None else environ)

    # -- inputs and context ---------------------------------------------------------------

    def input(self, name: str, default: str = "", keep_empty: bool = False) -> str:
        """The input's value; ``default`` when it is not set, or (unless ``keep_empty``)
        set empty."""
        value = self.environ.get(input_variable(name))
        if value is None:
            return default
        return value.strip() or ("" if keep_empty else default)

    def boolean(self, name: str, default: bool = False) -> bool:
        value = self.environ.get(input_variable(name), "").strip()
        if not value:
            return default
        if value in TRUE_WORDS:
            return True
        if value in FALSE_WORDS:
            return False
        raise InputError(f"input {name!r} must be true or false, not {value!r}")

    def env(self, name: str, default: str = "") -> str:
        return self.environ.get(name) or default

    # -- results --------------------------------------------------------------------------

    def set_output(self, name: str, value: object) -> None:
        text = "" if value is None else str(value)
        path = self.environ.get("GITHUB_OUTPUT")
        if not path:
            return
        if "\n" in text or "\r" in text:
            delimiter = f"ghadelimiter_{uuid.uuid4()}"
            record = f"{name}<<{delimiter}\n{text}\n{delimiter}\n"
        else:
            record = f"{name}={text}\n"
        with open(path, "a", encoding="utf-8") as out:
            out.write(record)

    def summary_room(self) -> int:
        """Bytes the step summary can still take, or 0 when there is no summary file."""
        path = self.environ.get("GITHUB_STEP_SUMMARY")
        if not path:
            return 0
        try:
            used = Path(path).stat().st_size
        except FileNotFoundError:
            used = 0
        return max(0, SUMMARY_LIMIT - used)

    def append_summary(self, markdown: str) -> bool:
        """Append to the job summary; False when there is none (outside a runner)."""
        path = self.environ.get("GITHUB_STEP_SUMMARY")
        if not path:
            return False
        with open(path, "a", encoding="utf-8") as out:
            out.write(markdown)
        return True

    # -- the log --------------------------------------------------------------------------

    def error(self, message: str) -> None:
        self._command("error", message)

    def warning(self, message: str) -> None:
        self._command("warning", message)

    def notice(self, message: str) -> None:
        self._command("notice", message)

    def info(self, message: str) -> None:
        print(message, flush=True)

    @contextlib.contextmanager
    def group(self, title: str) -> Iterator[None]:
        """A folded part of the log for the output of commands run inside it, with workflow
        commands off: a line of theirs that looks like ``::error::`` (a URL from the site in a
        message) prints as it is and does nothing."""
        resume = f"linkhealth-{uuid.uuid4().hex}"
        print(f"::group::{escape_data(title)}", flush=True)
        print(f"::stop-commands::{resume}", flush=True)
        try:
            yield
        finally:
            sys.stdout.flush()
            print(f"::{resume}::", flush=True)
            print("::endgroup::", flush=True)

    @staticmethod
    def _command(kind: str, message: str) -> None:
        print(f"::{kind}::{escape_data(message)}", flush=True)


def escape_data(text: str) -> str:
    """A workflow command's message: ``%``, CR and LF escaped, as the runner unescapes them
    (an LF left raw would end the command and print the rest as plain log)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def fit_summary(markdown: str, room: int, pointer: str) -> str:
    """``markdown`` cut at a line end so that it and ``pointer`` (what was left out, and
    where to read it) take at most ``room`` bytes of UTF-8; whole when it fits."""
    data = markdown.encode("utf-8")
    if len(data) <= room:
        return markdown
    tail = pointer.encode("utf-8")
    if len(tail) > room:
        return ""
    budget = room - len(tail)
    cut = data.rfind(b"\n", 0, budget + 1)
    kept = data[:cut + 1] if cut >= 0 else b""
    return kept.decode("utf-8") + pointer


SECRET_VARIABLES = ("INPUT_TOKEN", "GITHUB_TOKEN")  # never handed to the commands run


def command_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment of the commands the action runs (linkhealth, git): its own, less the
    token."""
    return {name: value for name, value in environ.items() if name not in SECRET_VARIABLES}
