"""The linkhealth GitHub Action's work: ``action.yml`` runs this between restoring and
saving the database in the Actions cache.

    python -m crawler.jobs.github_action

It reads what the runner gives the step: the inputs as ``INPUT_*`` variables (action.yml
sets them from ``inputs``), ``GITHUB_WORKSPACE``, ``GITHUB_REPOSITORY``, ``GITHUB_API_URL``,
``RUNNER_TEMP``... Then it:

1. crawls the site (input ``path``, in the workspace) into ``RUNNER_TEMP/linkhealth/
   linkhealth.db``, the database the cache carries from run to run;
2. writes that run's report in every format into ``RUNNER_TEMP/linkhealth/reports/``
   (the artifact), the HTML one with the archived copies it links to;
3. puts the Markdown report in the job summary, cut to fit GitHub's 1 MiB;
4. sets the outputs: the counts of the JSON report's headline, the paths, the exit code;
5. with ``issue``, opens, updates or closes the one issue of confirmed broken links;
6. with ``pull-request``, pushes ``linkhealth fix``'s patch and opens or updates its PR;
7. with ``archive: latest`` (the default), deletes all but the newest snapshot of each URL,
   so the cached database stays the size of the site (``off`` archives nothing).

Exit status: 0 done; 2 when ``fail-on`` matched a confirmed failure; 1 on an error (an
input it cannot use, a crawl that failed, a report not written, an issue or pull request
not made). What is written stays whatever fails after it, and every error is an
``::error::`` annotation saying what to do.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crawler.commands.report import parse_outcomes
from crawler.fix.plan import DeadPolicy
from crawler.jobs.actions_runner import InputError, Runner, command_environment, fit_summary
from crawler.jobs.github_api import GitHub, GitHubError
from crawler.jobs.github_issue import IssueResult, sync_issue
from crawler.jobs.github_pull import GitError, PullRequestOptions, PullResult, propose_fix
from crawler.jobs.nightly import (  # how a linkhealth command is run, and what it did
    NightlyError,
    crawl_args,
    ended,
    latest_run,
    linkhealth,
    recorded_run,
    report_args,
    setting_args,
)

EXIT_OK, EXIT_ERROR, EXIT_FAIL_ON = 0, 1, 2  # as crawler.commands.report
FORMATS = ("md", "html", "json", "csv")
ARCHIVE_MODES = ("off", "latest", "all")
DEFAULT_FAIL_ON = "broken,dns_error"  # as action.yml's default: an empty input fails on nothing
STATE_DIRECTORY = "linkhealth"  # in RUNNER_TEMP: action.yml caches and uploads from there
FOOTER_ROOM = 8 * 1024  # bytes of the job summary kept for what the action adds after the report
COMMAND_TIMEOUT = 6 * 60 * 60  # a GitHub-hosted job's own limit
PULL_SAID = 50_000  # characters of linkhealth fix's message in the pull request's body
def code_block(text: str) -> str:
    """A fenced block nothing inside can close (its fence is longer than any run of
    backticks in it): text from the site stays text."""
    fence = "```"
    while fence in text:
        fence += "`"
    return f"{fence}text\n{text.rstrip()}\n{fence}\n"


# -- the inputs -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    workspace: Path
    site: Path
    state: Path
    fail_on: str | None
    settings: tuple[str, ...]
    spider_args: tuple[str, ...]
    archive: str
    summary: bool
    artifact: str
    issue: bool
    issue_label: str
    issue_title: str
    pull_request: bool
    pull_branch: str
    pull_base: str
    pull_title: str
    fix_dead: str
    token: str
    repository: str
    api_url: str
    server_url: str
    run_url: str

    @property
    def db(self) -> Path:
        return self.state / "linkhealth.db"

    @property
    def reports(self) -> Path:
        return self.state / "reports"

    def report(self, fmt: str) -> Path:
        return self.reports / f"report.{fmt}"

    @classmethod
    def read(cls, runner: Runner) -> Config:
        """The inputs and the runner's context; raises ``InputError`` naming what is wrong."""
        workspace = Path(runner.env("GITHUB_WORKSPACE") or ".").resolve()
        site = (workspace / runner.input("path", ".")).resolve()
        if not site.is_dir():
            raise InputError(f"input 'path': the site's directory {site} does not exist "
                             "(check out the site first, with actions/checkout)")
        temp = runner.env("RUNNER_TEMP")
        if not temp:
            raise InputError("RUNNER_TEMP is not set: run this as a step of a GitHub Actions job")
        repository, server = runner.env("GITHUB_REPOSITORY"), runner.env("GITHUB_SERVER_URL",
                                                                          "https://github.com")
        settings, spider_args = parse_args(runner.input("args"))
        archive = runner.input("archive", "latest")
        if archive not in ARCHIVE_MODES:
            raise InputError(f"input 'archive' must be one of {', '.join(ARCHIVE_MODES)}, "
                             f"not {archive!r}")
        settings = defaults(settings, archive, f"{server}/{repository}" if repository else "")
        pull_request = runner.boolean("pull-request")
        return cls(
            workspace=workspace, site=site, state=Path(temp) / STATE_DIRECTORY,
            fail_on=fail_on(runner.input("fail-on", DEFAULT_FAIL_ON, keep_empty=True)),
            settings=settings,
            spider_args=spider_args, archive=archive, summary=runner.boolean("summary", True),
            artifact=runner.input("artifact-name", "linkhealth-report", keep_empty=True),
            issue=runner.boolean("issue"),
            issue_label=runner.input("issue-label", "linkhealth"),
            issue_title=runner.input("issue-title", "Broken links found by linkhealth"),
            pull_request=pull_request,
            pull_branch=pull_branch(runner, pull_request),
            pull_base=pull_base(runner, pull_request),
            pull_title=runner.input("pull-request-title", "Fix links found by linkhealth"),
            fix_dead=fix_dead(runner.input("fix-dead", "none")),
            token=runner.input("token") or runner.env("GITHUB_TOKEN"),
            repository=repository, api_url=runner.env("GITHUB_API_URL", "https://api.github.com"),
            server_url=server,
            run_url=f"{server}/{repository}/actions/runs/{runner.env('GITHUB_RUN_ID')}")


def parse_args(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Input ``args``: ``-s NAME=VALUE`` settings and ``-a NAME=VALUE`` spider arguments."""
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise InputError(f"input 'args': {exc}") from None
    settings: list[str] = []
    spider_args: list[str] = []
    pairs = iter(words)
    for option in pairs:
        value = next(pairs, "")
        if option not in ("-s", "--set", "-a") or "=" not in value:
            raise InputError(f"input 'args': expected -s NAME=VALUE or -a NAME=VALUE, got "
                             f"{shlex.join([option, value]).strip()!r}")
        if value.partition("=")[0] == "LINKHEALTH_DB":
            raise InputError("input 'args': LINKHEALTH_DB is the action's own (the cache "
                             "keeps it); leave it out")
        (spider_args if option == "-a" else settings).append(value)
    return tuple(settings), tuple(spider_args)


def defaults(settings: Sequence[str], archive: str, contact: str) -> tuple[str, ...]:
    """The settings the action adds unless ``args`` gives them: the site's repository as
    the contact URL (it goes in the User-Agent), archiving off with ``archive: off``."""
    given = {setting.partition("=")[0] for setting in settings}
    added = []
    if contact and "LINKHEALTH_CONTACT_URL" not in given:
        added.append(f"LINKHEALTH_CONTACT_URL={contact}")
    if archive == "off" and "LINKHEALTH_ARCHIVE" not in given:
        added.append("LINKHEALTH_ARCHIVE=0")
    return (*added, *settings)


def fail_on(value: str) -> str | None:
    if not value:
        return None
    try:
        parse_outcomes(value)
    except ValueError as exc:
        raise InputError(f"input 'fail-on': {exc}") from None
    return value


def fix_dead(value: str) -> str:
    try:
        DeadPolicy.parse(value)
    except ValueError as exc:
        raise InputError(f"input 'fix-dead': {exc}") from None
    return value


def pull_branch(runner: Runner, wanted: bool) -> str:
    """Input ``pull-request-branch``: the action force-pushes it, so it is never the branch
    the pull request goes into (that branch's history would be replaced by the fix)."""
    branch = runner.input("pull-request-branch", "linkhealth/fix")
    if wanted and branch == pull_base(runner, wanted):
        raise InputError(f"input 'pull-request-branch': {branch!r} is also the branch the pull "
                         "request goes into; the action rebuilds and force-pushes its branch, "
                         "so give it one of its own")
    return branch


def pull_base(runner: Runner, wanted: bool) -> str:
    """The branch a pull request goes into: input ``pull-request-base``, else the branch
    the workflow runs on."""
    base = runner.input("pull-request-base")
    ref = runner.env("GITHUB_REF")
    if not base and ref.startswith("refs/heads/"):
        base = ref.removeprefix("refs/heads/")
    if wanted and not base:
        raise InputError(f"input 'pull-request-base': the workflow runs on {ref or 'no branch'}"
                         ", not a branch: give the branch the pull request goes into")
    return base


# -- the job --------------------------------------------------------------------------------


class ActionJob:
    def __init__(self, runner: Runner, config: Config) -> None:
        self.runner = runner
        self.config = config
        self.env = command_environment(runner.environ)
        self.errors: list[str] = []
        self.notes: list[str] = []

    def run(self) -> int:
        config = self.config
        config.state.mkdir(parents=True, exist_ok=True)
        self.runner.set_output("database", config.db)
        self.runner.set_output("reports-dir", config.reports)
        run_id = self.crawl()
        if run_id is None:
            return self.finish(EXIT_ERROR)
        status = self.write_reports(run_id)
        report = self.read_json()
        if status == EXIT_FAIL_ON:
            self.runner.error(f"fail-on ({config.fail_on}) matched a confirmed failure of run "
                              f"{run_id}: see the report in the job summary")
        self.write_summary()
        if report is not None:
            self.set_counts(report)
            if config.issue:
                self.sync_issue(report)
        if config.pull_request:
            self.propose_fix(run_id)
        if config.archive == "latest":
            self.prune()
        return self.finish(status)

    def finish(self, status: int) -> int:
        if self.errors:
            status = EXIT_ERROR
        self.write_footer()
        self.runner.set_output("exit-code", status)
        return status

    def fail(self, message: str) -> None:
        self.runner.error(message)
        self.errors.append(message)

    def execute(self, args: list[str], title: str,
                capture: bool = False) -> subprocess.CompletedProcess[str]:
        """One linkhealth command, its output in a folded group of the log (as it comes, or,
        with ``capture``, kept in ``stderr`` too and printed at the end)."""
        done: subprocess.CompletedProcess[str] | None
        with self.runner.group(title):
            try:
                done = subprocess.run(linkhealth(*args), cwd=self.config.workspace, env=self.env,
                                      stdout=sys.stdout, text=True, timeout=COMMAND_TIMEOUT,
                                      stderr=subprocess.PIPE if capture else sys.stdout)
                sys.stdout.write(done.stderr or "")
                sys.stdout.flush()
            except subprocess.TimeoutExpired:
                done = None
        if done is None:  # said after the group: inside it, workflow commands are stopped
            self.fail(f"linkhealth {args[0]} did not end within {COMMAND_TIMEOUT}s")
            return subprocess.CompletedProcess(args, EXIT_ERROR, "", "")
        return done

    def settings(self) -> list[str]:
        return setting_args(self.config.settings)

    # -- 1. the crawl

    def crawl(self) -> int | None:
        """The id of the run the crawl recorded, finished; None (after saying why) if none."""
        config = self.config
        before = latest_run(config.db)
        done = self.execute(crawl_args(config.site, config.db, config.settings,
                                       config.spider_args), f"linkhealth crawl {config.site}")
        try:
            run_id = recorded_run(config.db, before, done.returncode)
        except NightlyError as exc:
            self.fail(f"{exc}: see the log of this step; no report written")
            return None
        self.runner.set_output("run-id", run_id)
        return run_id

    # -- 2. the reports

    def write_reports(self, run_id: int) -> int:
        """Every format, in parallel; the status of the one with ``--fail-on``."""
        config = self.config
        processes = {}
        with self.runner.group(f"linkhealth report of run {run_id}: {', '.join(FORMATS)}"):
            for fmt in FORMATS:
                args = report_args(config.db, run_id, fmt, config.report(fmt), config.settings)
                if fmt == "html":
                    args.append("--with-snapshots")
                if fmt == "json" and config.fail_on:
                    args += ["--fail-on", config.fail_on]
                processes[fmt] = subprocess.Popen(linkhealth(*args), cwd=config.workspace,
                                                  env=self.env, stdout=subprocess.DEVNULL,
                                                  stderr=subprocess.PIPE, text=True)
            statuses = {fmt: ended(process, COMMAND_TIMEOUT, sys.stdout)
                        for fmt, process in processes.items()}
        for fmt, status in statuses.items():
            if status not in (EXIT_OK, EXIT_FAIL_ON):
                self.fail(f"the {fmt} report was not written (exit status {status})")
            else:
                self.runner.set_output(f"report-{fmt}", config.report(fmt))
        return EXIT_FAIL_ON if statuses["json"] == EXIT_FAIL_ON else EXIT_OK

    def read_json(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.config.report("json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None  # said already: the json report was not written

    # -- 3. the job summary, 4. the outputs

    def write_summary(self) -> None:
        if not self.config.summary:
            return
        try:
            markdown = self.config.report("md").read_text(encoding="utf-8")
        except OSError:
            return
        room = self.runner.summary_room() - FOOTER_ROOM
        pointer = (f"\n\n---\n\n✂️ **The report is cut here**: a job summary holds at most "
                   f"1 MiB. The whole report is `report.md` (and `report.html`) {self.where()}.\n")
        if room > 0:
            self.runner.append_summary(fit_summary(markdown, room, pointer))

    def where(self) -> str:
        if self.config.artifact:
            return f"in the artifact `{self.config.artifact}` of [this run]({self.config.run_url})"
        return f"in `{self.config.reports}` on the runner"

    def set_counts(self, report: dict[str, Any]) -> None:
        headline = report.get("headline", {})
        counts = {"broken": "broken_confirmed", "newly-broken": "newly_broken",
                  "still-broken": "still_broken", "failing-unconfirmed": "failing_unconfirmed",
                  "fixed": "fixed"}
        for output, key in counts.items():
            self.runner.set_output(output, headline.get(key, 0))
        self.runner.set_output("checked", sum(report.get("summary", {}).values()))

    def write_footer(self) -> None:
        if not self.config.summary:
            return
        lines = [f"- {note}" for note in self.notes]
        lines += [f"- ❌ {error}" for error in self.errors]
        if self.config.report("md").is_file():
            lines.append(f"- Reports (Markdown, HTML, JSON, CSV): {self.where()}.")
        text = "\n### linkhealth action\n\n" + "\n".join(lines) + "\n"
        self.runner.append_summary(fit_summary(text, self.runner.summary_room(), "…\n"))

    # -- 5. the issue

    def api(self) -> GitHub:
        config = self.config
        return GitHub(config.api_url, config.repository, config.token)

    def sync_issue(self, report: dict[str, Any]) -> None:
        config = self.config
        footer = (f"\n---\nKept up to date by the linkhealth action: [run]({config.run_url}); "
                  f"the full report is {self.where()}.")
        try:
            result = sync_issue(self.api(), report, label=config.issue_label,
                                title=config.issue_title, footer=footer)
        except GitHubError as exc:
            self.fail(f"the issue of broken links was not opened or updated: {exc}")
            return
        self.announce("issue", "Issue", result)

    def announce(self, output: str, name: str, result: IssueResult | PullResult) -> None:
        """Outputs ``OUTPUT-number`` and ``OUTPUT-url`` and a note in the summary, for the
        issue or the pull request ``result`` (a ``number`` of None: there is none)."""
        if result.number is not None:
            self.runner.set_output(f"{output}-number", result.number)
            self.runner.set_output(f"{output}-url", result.url)
            self.notes.append(f"{name} #{result.number} {result.action}: {result.url}")

    # -- 6. the pull request

    def propose_fix(self, run_id: int) -> None:
        config = self.config
        patch_file = config.state / "fix.patch"
        done = self.execute(["fix", "--db", str(config.db), "--run", str(run_id),
                             "--source", str(config.site), "--dead", config.fix_dead,
                             "-o", str(patch_file), *self.settings()],
                            f"linkhealth fix of run {run_id}", capture=True)
        if done.returncode != 0:
            self.fail(f"linkhealth fix failed (exit status {done.returncode}): see the log; "
                      "no pull request made")
            return
        patch = patch_file.read_bytes()
        self.runner.set_output("fix-patch", patch_file)
        options = PullRequestOptions(
            branch=config.pull_branch, base=config.pull_base, title=config.pull_title,
            body=self.pull_body(run_id, done.stderr), token=config.token,
            server_url=config.server_url,
            commit_message=f"Fix links found by linkhealth (run {run_id})")
        try:
            result = propose_fix(self.api(), config.site, patch, options)
        except (GitHubError, GitError) as exc:
            self.fail(f"the pull request of fixes was not opened or updated: {exc}")
            return
        self.announce("pull-request", "Pull request", result)

    def pull_body(self, run_id: int, said: str) -> str:
        """What the patch does, and what ``linkhealth fix`` said about it (its summary and
        what it could not fix: text from the site, so in a code block)."""
        config = self.config
        return (f"`linkhealth fix --dead {config.fix_dead}` of run {run_id}: links that moved "
                "permanently rewritten to their new address"
                + (", confirmed dead links replaced" if config.fix_dead != "none" else "")
                + ". Review the changes before merging.\n\n" + code_block(said[:PULL_SAID])
                + f"\nThe branch `{config.pull_branch}` is rebuilt by the action on each run: "
                f"commits pushed to it are replaced.\n\n[Run]({config.run_url}); the report "
                f"is {self.where()}.")

    # -- 7. the archive

    def prune(self) -> None:
        done = self.execute(["prune", "--db", str(self.config.db), "--keep", "1",
                             "--older-than", "0", "--apply"],
                            "linkhealth prune: the newest snapshot of each URL stays")
        if done.returncode != 0:
            self.runner.warning(f"pruning the archive failed (exit status {done.returncode}); "
                                "the cached database keeps its older snapshots")


def main(environ: Mapping[str, str] | None = None) -> int:
    runner = Runner(environ)
    try:
        config = Config.read(runner)
    except InputError as exc:
        runner.error(str(exc))
        runner.set_output("exit-code", EXIT_ERROR)
        return EXIT_ERROR
    try:
        return ActionJob(runner, config).run()
    except Exception as exc:  # noqa: BLE001 - say it as an annotation, then the traceback
        runner.error(f"linkhealth action: unexpected {type(exc).__name__}: {exc}")
        traceback.print_exc()
        runner.set_output("exit-code", EXIT_ERROR)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
