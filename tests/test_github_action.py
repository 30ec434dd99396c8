"""The GitHub Action (issue 19), run as the runner runs its step: ``python -m
crawler.jobs.github_action`` in a subprocess, with the environment a runner gives it
(``GITHUB_OUTPUT``, ``GITHUB_STEP_SUMMARY``, ``RUNNER_TEMP``, the ``INPUT_*`` variables
action.yml sets...) pointed at temporary files; the site's links on a loopback web, the
REST API a loopback stand-in (``tests/github_api_server.py``), ``origin`` a bare repository.

``RUNNER_TEMP`` is kept from run to run, as the Actions cache keeps the database; each run
gets fresh output and summary files, as each step does.
"""

from __future__ import annotations

import os
import re
import shlex
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from crawler.jobs import github_action
from crawler.jobs.actions_runner import SUMMARY_LIMIT, fit_summary, input_variable
from crawler.jobs.github_issue import MARKER
from tests.crawl import REPO, write_site
from tests.git_repo import GIT_ENV, git
from tests.github_api_server import FakeGitHub
from tests.webserver import Web, free_port

TOKEN = "ghs_test0token0that0must0never0show"
ARGS = ("-s LINKHEALTH_ALLOW_PRIVATE=1 -s LINKHEALTH_RETRY_BACKOFF_BASE=0.05 "
        "-s DOWNLOAD_TIMEOUT=2")
ACTION = yaml.safe_load((REPO / "action.yml").read_text(encoding="utf-8"))
SCRIPT_STEP = next(step for step in ACTION["runs"]["steps"] if step.get("id") == "linkhealth")


@dataclass
class Step:
    """One run of the action's step: its exit status, log, outputs and job summary."""

    process: subprocess.CompletedProcess[str]
    outputs: dict[str, str]
    output_names: list[str]
    summary: str

    @property
    def status(self) -> int:
        return self.process.returncode

    @property
    def log(self) -> str:
        return self.process.stdout + self.process.stderr

    def annotations(self, kind: str = "error") -> list[str]:
        return re.findall(rf"^::{kind}::(.*)$", self.process.stdout, re.M)


@dataclass
class Runner:
    """What stays from step to step: the workspace, RUNNER_TEMP (the cached database)."""

    root: Path
    workspace: Path
    api_url: str = "http://127.0.0.1:9"
    steps: int = 0

    def run(self, token: str = TOKEN, **inputs: str) -> Step:
        step = self.root / "steps" / str(self.steps)
        step.mkdir(parents=True, exist_ok=True)
        self.steps += 1
        environment = {name: value for name, value in os.environ.items()
                       if not name.startswith(("INPUT_", "GITHUB_", "RUNNER_", "GIT_"))}
        # git's own config is an empty one (tests/git_repo.py); the identity is the script's.
        environment.update({name: GIT_ENV[name]
                            for name in ("GIT_CONFIG_GLOBAL", "GIT_CONFIG_NOSYSTEM")})
        environment.update({
            "GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": str(self.workspace),
            "GITHUB_REPOSITORY": "owner/site", "GITHUB_API_URL": self.api_url,
            "GITHUB_SERVER_URL": "https://github.test", "GITHUB_RUN_ID": "4242",
            "GITHUB_REF": "refs/heads/main", "GITHUB_REF_NAME": "main",
            "GITHUB_TOKEN": token, "RUNNER_TEMP": str(self.root / "runner-temp"),
            "GITHUB_OUTPUT": str(step / "output"), "GITHUB_STEP_SUMMARY": str(step / "summary"),
            "GITHUB_ENV": str(step / "env"), "TLDEXTRACT_CACHE": str(self.root / "tldextract"),
        })
        given = {**action_defaults(token), "args": ARGS, **inputs}
        environment.update({input_variable(name): value for name, value in given.items()
                            if input_variable(name) in SCRIPT_STEP["env"]})
        process = subprocess.run(step_command(), cwd=self.workspace, env=environment, capture_output=True,
                                 text=True, timeout=300)
        outputs, names = read_outputs(step / "output")
        summary = (step / "summary").read_text(encoding="utf-8") \
            if (step / "summary").exists() else ""
        for text in (process.stdout, process.stderr, summary,
                     (step / "output").read_text() if (step / "output").exists() else ""):
            assert token not in text, "the token was printed"
        # The script's own output (the commands it runs print on stdout).
        assert "Traceback" not in process.stderr, process.stderr[-3000:]
        return Step(process, outputs, names, summary)


def step_command() -> list[str]:
    """The script step's command line as action.yml writes it, on this venv's Python."""
    words = shlex.split(SCRIPT_STEP["run"])
    assert words[0] == "$RUNNER_TEMP/linkhealth-venv/bin/python", words
    return [sys.executable, *words[1:]]


def action_defaults(token: str) -> dict[str, str]:
    """Every input's default, as the runner gives them (``${{ github.token }}`` expanded)."""
    return {name: token if spec["default"] == "${{ github.token }}" else str(spec["default"])
            for name, spec in ACTION["inputs"].items()}


def read_outputs(path: Path) -> tuple[dict[str, str], list[str]]:
    """``GITHUB_OUTPUT`` as the runner reads it: ``name=value`` and ``name<<DELIMITER`` blocks."""
    if not path.exists():
        return {}, []
    outputs: dict[str, str] = {}
    names: list[str] = []
    lines = iter(path.read_text(encoding="utf-8").splitlines())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            value = []
            for block in lines:
                if block == delimiter:
                    break
                value.append(block)
            outputs[name] = "\n".join(value)
        else:
            name, _, outputs[name] = line.partition("=")
        names.append(name)
    return outputs, names


def site_repository(root: Path, documents: dict) -> Path:
    """The site's checkout: a git repository on ``main`` whose ``origin`` is a bare one."""
    remote = root / "origin.git"
    git(root, "init", "--quiet", "--bare", "--initial-branch=main", str(remote))
    workspace = write_site(root / "workspace", documents)
    for args in (["init", "--quiet", "--initial-branch=main"], ["add", "-A"],
                 ["commit", "--quiet", "-m", "the site"], ["remote", "add", "origin", str(remote)],
                 ["push", "--quiet", "origin", "main"]):
        assert git(workspace, *args).returncode == 0, args
    return workspace


# -- the summary, the outputs, the exit status ----------------------------------------------

@pytest.mark.e2e
@pytest.mark.slow
def test_summary_outputs_and_exit_status_follow_fail_on(tmp_path):
    with Web() as web:
        workspace = write_site(tmp_path / "workspace", {
            "_posts/a.md": {"title": "A", "webUrl": web.url("/ok"),
                            "images": [{"url": web.url("/status/404")}]}})
        runner = Runner(tmp_path, workspace)
        first = runner.run()
        second = runner.run()
        third = runner.run(**{"fail-on": ""})

    # A first failure is not confirmed: nothing fails the job.
    assert first.status == 0, first.log[-3000:]
    assert first.outputs["exit-code"] == "0" and first.outputs["broken"] == "0"
    assert first.outputs["failing-unconfirmed"] == "1" and first.outputs["checked"] == "2"
    assert first.summary.startswith("# Link health report — run 1")
    assert web.url("/status/404") in first.summary
    for fmt in ("md", "html", "json", "csv"):
        path = Path(first.outputs[f"report-{fmt}"])
        assert path.parent == Path(first.outputs["reports-dir"]) and path.stat().st_size > 0
    assert Path(first.outputs["database"]).is_file()
    assert "Reports (Markdown, HTML, JSON, CSV): in the artifact `linkhealth-report`" in first.summary
    # The second failure in a row confirms it: fail-on (broken,dns_error by default) matches.
    assert second.status == 2, second.log[-3000:]
    assert second.outputs["exit-code"] == "2" and second.outputs["run-id"] == "2"
    assert second.outputs["broken"] == "1" and second.outputs["newly-broken"] == "1"
    assert "# Link health report — run 2" in second.summary
    assert any("fail-on (broken,dns_error) matched" in a for a in second.annotations())
    # fail-on empty: the same confirmed link fails nothing.
    assert third.status == 0, third.log[-3000:]
    assert third.outputs["exit-code"] == "0" and third.outputs["still-broken"] == "1"
    assert third.annotations() == []


@pytest.mark.e2e
def test_the_job_summary_is_cut_to_fit_with_a_pointer_to_the_artifact(tmp_path):
    with Web() as web:
        workspace = write_site(tmp_path / "workspace", {
            f"_posts/p{n}.md": {"title": f"P{n}", "webUrl": web.url(f"/status/404?page={n}")}
            for n in range(40)})
        runner = Runner(tmp_path, workspace)
        whole = runner.run(**{"artifact-name": "links", "fail-on": ""})
        # Another writer left the step's summary nearly full: 1 MiB less 12 KiB.
        step = tmp_path / "steps" / "1"
        step.mkdir(parents=True)
        (step / "summary").write_text("x" * (SUMMARY_LIMIT - 12 * 1024), encoding="utf-8")
        cut = runner.run(**{"artifact-name": "links", "fail-on": ""})
    assert whole.status == 0 and cut.status == 0, cut.log[-3000:]
    assert len(whole.summary.encode()) > 8 * 1024  # the report alone does not fit in 4 KiB
    written = (step / "summary").read_bytes()
    assert len(written) <= SUMMARY_LIMIT
    assert "The report is cut here" in cut.summary and "the artifact `links`" in cut.summary
    assert "https://github.test/owner/site/actions/runs/4242" in cut.summary
    assert "# Link health report — run 2" in cut.summary
    assert "### linkhealth action" in cut.summary  # what the action says comes after


def test_fit_summary_cuts_at_a_line_end_within_the_bytes_given():
    text = "".join(f"line {n} é✓\n" for n in range(1000))
    fitted = fit_summary(text, 500, "\n…cut\n")
    assert len(fitted.encode()) <= 500 and fitted.endswith("\n…cut\n")
    assert text.startswith(fitted.removesuffix("\n…cut\n"))
    assert fitted.removesuffix("\n…cut\n").endswith("é✓\n")
    assert fit_summary(text, len(text.encode()), "x") == text
    assert fit_summary(text, 3, "\n…cut\n") == ""


@pytest.mark.e2e
def test_a_crawl_that_fails_is_an_error_with_no_report(tmp_path):
    workspace = write_site(tmp_path / "workspace", {"_posts/a.md": {"title": "A"}})
    step = Runner(tmp_path, workspace).run(args=f"{ARGS} -s LINKHEALTH_READ_BATCH=many")
    assert step.status == 1 and step.outputs["exit-code"] == "1"
    assert any("the crawl failed" in a for a in step.annotations())
    assert "❌ the crawl failed" in step.summary
    assert "report-md" not in step.outputs


@pytest.mark.e2e
@pytest.mark.parametrize("inputs, message", [
    ({"fail-on": "brokn"}, "input 'fail-on': unknown outcome(s) in --fail-on: brokn"),
    ({"args": "--db x"}, "input 'args': expected -s NAME=VALUE or -a NAME=VALUE"),
    ({"args": "-s LINKHEALTH_DB=elsewhere.db"}, "LINKHEALTH_DB is the action's own"),
    ({"archive": "some"}, "input 'archive' must be one of off, latest, all"),
    ({"issue": "yes"}, "input 'issue' must be true or false, not 'yes'"),
    ({"fix-dead": "maybe"}, "input 'fix-dead'"),
    ({"path": "no-such-site"}, "input 'path': the site's directory"),
    ({"pull-request": "true", "pull-request-branch": "main", "pull-request-base": "main"},
     "input 'pull-request-branch': 'main' is also the branch the pull request goes into"),
])
def test_an_input_it_cannot_use_fails_before_crawling(tmp_path, inputs, message):
    workspace = write_site(tmp_path / "workspace", {"_posts/a.md": {"title": "A"}})
    step = Runner(tmp_path, workspace).run(**inputs)
    assert step.status == 1 and step.outputs == {"exit-code": "1"}
    assert any(message in a for a in step.annotations()), step.process.stdout
    assert not (tmp_path / "runner-temp").exists()


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.parametrize("archive, kept", [("latest", 1), ("all", 2), ("off", 0)])
def test_the_archive_input_decides_the_snapshots_the_cached_database_keeps(tmp_path, archive,
                                                                            kept):
    with Web() as web:
        workspace = write_site(tmp_path / "workspace", {
            "_posts/a.md": {"title": "A", "webUrl": web.url("/page/a")}})
        runner = Runner(tmp_path, workspace)
        every_change = {"archive": archive, "args": f"{ARGS} -s LINKHEALTH_SNAPSHOT_MIN_AGE=0"}
        web.pages["a"] = b"<html><title>A</title><p>first</p></html>"
        first = runner.run(**every_change)
        web.pages["a"] = b"<html><title>A</title><p>second</p></html>"
        second = runner.run(**every_change)
    assert first.status == second.status == 0, second.log[-3000:]
    assert second.annotations("warning") == []
    conn = sqlite3.connect(second.outputs["database"])
    try:
        bodies = conn.execute("SELECT COUNT(*) FROM snapshots").fetchone()[0]
    finally:
        conn.close()
    assert bodies == kept


# -- the issue -------------------------------------------------------------------------------

@pytest.mark.e2e
@pytest.mark.slow
def test_two_runs_open_one_issue_a_third_updates_it_and_it_closes_when_fixed(tmp_path):
    with Web() as web, FakeGitHub(TOKEN, page_size=1) as github:
        gone = web.url("/status/404?gone=1")
        workspace = write_site(tmp_path / "workspace", {
            "_posts/a.md": {"title": "A", "webUrl": web.url("/ok"), "originalUrl": gone}})
        # Someone's own issue with the same label: never the action's to edit.
        someone = github.state.issues[1] = {
            "number": 1, "title": "Label me", "body": "mine", "state": "open",
            "labels": [{"name": "linkhealth"}], "html_url": "https://github.test/i/1"}
        github.state.next_number = 2
        runner = Runner(tmp_path, workspace, api_url=github.url)
        issue = {"issue": "true", "fail-on": ""}
        first = runner.run(**issue)
        opened_by = len(github.requests)
        second = runner.run(**issue)
        third = runner.run(**issue)
        write_site(workspace, {"_posts/a.md": {"title": "A", "webUrl": web.url("/ok")}})
        fourth = runner.run(**issue)

    for step in (first, second, third, fourth):
        assert step.status == 0, step.log[-3000:]
    assert not [r for r in github.requests[:opened_by] if r.method != "GET"]  # not confirmed yet
    assert "issue-number" not in first.outputs
    ours = github.issues[1]
    assert ours["number"] == 2 and ours["labels"] == [{"name": "linkhealth"}]
    assert ours["title"] == "Broken links found by linkhealth" and MARKER in ours["body"]
    assert second.outputs["issue-number"] == "2"
    assert second.outputs["issue-url"] == "https://github.test/owner/site/issues/2"
    assert f"Issue #2 opened: {second.outputs['issue-url']}" in second.summary
    # The third run found the same issue (on the second page) and updated it.
    assert third.outputs["issue-number"] == "2" and "Issue #2 updated" in third.summary
    assert len(github.issues) == 2 and someone["body"] == "mine"
    patches = [r for r in github.writes() if r.method == "PATCH"]
    assert patches[0].path == "/repos/owner/site/issues/2" and f"<{gone}>" in patches[0].body["body"]
    assert "### Still broken" in patches[0].body["body"]
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in github.requests)
    assert all(r.headers["x-github-api-version"] == "2022-11-28" for r in github.requests)
    # Fixed: a comment, then closed.
    assert ours["state"] == "closed" and ours["state_reason"] == "completed"
    assert len(github.comments(2)) == 1
    assert "no link is confirmed broken any more" in github.comments(2)[0]
    assert "Issue #2 closed" in fourth.summary


@pytest.mark.e2e
def test_the_issue_body_lists_what_is_newly_broken_as_inert_markdown(tmp_path):
    with Web() as web, FakeGitHub(TOKEN) as github:
        workspace = write_site(tmp_path / "workspace", {
            "_posts/@someone #1.md": {"title": "@someone", "webUrl": web.url("/status/410")}})
        Runner(tmp_path, workspace, api_url=github.url).run(
            issue="true", args=f"{ARGS} -s LINKHEALTH_BROKEN_AFTER=1")
    body = github.issues[0]["body"]
    assert "### Newly broken" in body and f"<{web.url('/status/410')}>" in body
    assert "| `broken 410` | `_posts/@someone #1.md` (`webUrl`) |" in body
    assert "@someone" not in body.replace("`_posts/@someone #1.md`", "")


@pytest.mark.e2e
@pytest.mark.parametrize("case, expected", [
    ("bad token", "GitHub answered 401 (Bad credentials); the token was refused"),
    ("no permission", "GitHub answered 403 (Resource not accessible by integration); check "
                      "the token's permissions"),
    ("no API", "does not answer"),
])
def test_api_errors_say_what_to_do_and_keep_the_reports(tmp_path, case, expected):
    with Web() as web, FakeGitHub(TOKEN, deny=("POST /issues",)) as github:
        workspace = write_site(tmp_path / "workspace", {
            "_posts/a.md": {"title": "A", "webUrl": web.url("/status/404")}})
        api_url = f"http://127.0.0.1:{free_port()}" if case == "no API" else github.url
        step = Runner(tmp_path, workspace, api_url=api_url).run(
            token="ghs_wrong0token" if case == "bad token" else TOKEN, issue="true",
            args=f"{ARGS} -s LINKHEALTH_BROKEN_AFTER=1")
    assert step.status == 1 and step.outputs["exit-code"] == "1"
    errors = [a for a in step.annotations() if "the issue of broken links was not opened" in a]
    assert len(errors) == 1 and expected in errors[0], step.annotations()
    # The reports are all there, the summary holds the report and the error.
    assert step.summary.startswith("# Link health report — run 1")
    assert "❌ the issue of broken links was not opened" in step.summary
    assert step.outputs["broken"] == "1"
    for fmt in ("md", "html", "json", "csv"):
        assert Path(step.outputs[f"report-{fmt}"]).stat().st_size > 0
    assert github.issues == []


# -- the pull request ------------------------------------------------------------------------

@pytest.mark.e2e
@pytest.mark.slow
def test_the_pull_request_route_pushes_the_fix_and_keeps_one_pull_request(tmp_path):
    with Web() as web:
        web.moves.update({"/old/a": "/ok/a", "/old/b": "/ok/b"})
        workspace = site_repository(tmp_path, {
            "_posts/a.md": {"title": "A", "webUrl": web.url("/old/a")},
            "_posts/b.md": {"title": "B", "webUrl": web.url("/ok/b")}})
        # The site's own hooks would run in a worktree without their tools: none may run.
        hooks_ran = tmp_path / "hooks-ran"
        for hook in ("pre-commit", "post-checkout", "pre-push"):
            script = workspace / ".git/hooks" / hook
            script.write_text(f"#!/bin/sh\necho {hook} >> '{hooks_ran}'\nexit 1\n")
            script.chmod(0o755)
        remote = tmp_path / "origin.git"
        with FakeGitHub(TOKEN, remote=remote) as github:
            runner = Runner(tmp_path, workspace, api_url=github.url)
            pull = {"pull-request": "true", "args": f"{ARGS} -s LINKHEALTH_BROKEN_AFTER=1"}
            first = runner.run(**pull)
            first_tip = git(remote, "rev-parse", "linkhealth/fix").stdout
            # The site changes on main: b moves too.
            write_site(workspace, {"_posts/b.md": {"title": "B", "webUrl": web.url("/old/b")}})
            git(workspace, "commit", "--quiet", "--no-verify", "-am", "b")
            git(workspace, "push", "--quiet", "--no-verify", "origin", "main")
            second = runner.run(**pull)
            second_tip = git(remote, "rev-parse", "linkhealth/fix").stdout
            third = runner.run(**pull)

    for step in (first, second, third):
        assert step.status == 0, step.log[-3000:]
    assert not hooks_ran.exists(), hooks_ran.read_text()
    assert len(github.pulls) == 1
    made = github.pulls[0]
    assert made["head"] == {"ref": "linkhealth/fix"} and made["base"] == {"ref": "main"}
    assert made["title"] == "Fix links found by linkhealth" and made["state"] == "open"
    # The branch's commit is the second run's (the third pushed nothing), made by the bot.
    assert git(remote, "log", "-1", "--format=%s|%an|%cn", "linkhealth/fix").stdout.decode() \
        .startswith("Fix links found by linkhealth (run 2)|github-actions[bot]|github-actions[bot]")
    assert first.outputs["pull-request-number"] == second.outputs["pull-request-number"] == "1"
    assert "Pull request #1 opened" in first.summary and "Pull request #1 updated" in second.summary
    # The branch holds the fix on top of main; the job's checkout is untouched.
    fixed = git(remote, "show", "linkhealth/fix:_posts/a.md").stdout.decode()
    assert f"webUrl: {web.url('/ok/a')}" in fixed
    assert git(remote, "show", "linkhealth/fix:_posts/b.md").stdout.decode().count("/ok/b") == 1
    assert git(remote, "rev-parse", "linkhealth/fix~1").stdout == git(remote, "rev-parse",
                                                                      "main").stdout
    assert web.url("/old/a") in (workspace / "_posts" / "a.md").read_text()
    assert git(workspace, "status", "--porcelain").stdout == b""
    assert git(workspace, "worktree", "list").stdout.decode().count("\n") == 1
    assert git(remote, "for-each-ref", "--format=%(refname)").stdout.decode().split() == [
        "refs/heads/linkhealth/fix", "refs/heads/main"]
    # The second run pushed again: b moved, and main changed under the branch (the same
    # files on the older commit would undo that change when merged). The third found the
    # branch as it would make it.
    assert first_tip != second_tip
    assert git(remote, "rev-parse", "linkhealth/fix").stdout == second_tip
    pulls_patched = [r for r in github.writes() if r.method == "PATCH"]
    assert [r.path for r in pulls_patched] == ["/repos/owner/site/pulls/1"] * 2
    assert "linkhealth fix --dead none" in made["body"]


# -- action.yml and the README -----------------------------------------------------------------

def _inputs_used(text: str) -> set[str]:
    return set(re.findall(r"\binputs\.([\w-]+)", text))


def test_action_yml_uses_every_input_it_declares_and_declares_every_one_it_uses():
    declared = set(ACTION["inputs"])
    text = (REPO / "action.yml").read_text(encoding="utf-8")
    used = _inputs_used(re.sub(r"(?m)^\s*#.*$", "", text))
    assert used == declared
    for name, spec in ACTION["inputs"].items():
        assert spec.get("description") and "default" in spec, name


def test_the_script_step_gets_every_input_the_script_reads_under_its_variable():
    env = SCRIPT_STEP["env"]
    for variable, value in env.items():  # INPUT_FAIL_ON: ${{ inputs.fail-on }}
        name = re.fullmatch(r"\$\{\{ inputs\.([\w-]+) \}\}", value)[1]
        assert variable == input_variable(name)
    source = "".join(path.read_text(encoding="utf-8")
                     for path in (REPO / "crawler" / "jobs").glob("*.py"))
    read = set(re.findall(r"runner\.(?:input|boolean)\(\"([\w-]+)\"", source))
    assert read == {re.fullmatch(r"\$\{\{ inputs\.([\w-]+) \}\}", v)[1] for v in env.values()}
    assert SCRIPT_STEP["run"].endswith("-m crawler.jobs.github_action'") or \
        SCRIPT_STEP["run"].endswith("-m crawler.jobs.github_action")


def test_the_script_without_inputs_does_what_action_yml_s_defaults_do(tmp_path):
    """Run by hand (no INPUT_* variables), the script has the action's defaults."""
    context = {"GITHUB_WORKSPACE": str(tmp_path), "RUNNER_TEMP": str(tmp_path / "temp"),
               "GITHUB_REPOSITORY": "owner/site", "GITHUB_REF": "refs/heads/main",
               "GITHUB_TOKEN": TOKEN}
    defaults = {input_variable(name): value for name, value in action_defaults(TOKEN).items()}
    by_hand = github_action.Config.read(github_action.Runner(context))
    assert by_hand == github_action.Config.read(github_action.Runner({**context, **defaults}))
    assert by_hand.fail_on == "broken,dns_error" and by_hand.artifact == "linkhealth-report"


def test_action_yml_caches_and_uploads_where_the_script_writes():
    state = "${{ runner.temp }}/" + github_action.STATE_DIRECTORY
    steps = {step.get("uses", "").partition("@")[0]: step for step in ACTION["runs"]["steps"]}
    restore, save = steps["actions/cache/restore"]["with"], steps["actions/cache/save"]["with"]
    assert restore["path"] == save["path"] == f"{state}/linkhealth.db*"
    assert restore["key"] == save["key"] and "github.run_id" in save["key"]
    assert save["key"].startswith(restore["restore-keys"])
    assert steps["actions/upload-artifact"]["with"]["path"] == f"{state}/reports/"
    assert "always()" in steps["actions/cache/save"]["if"]
    assert "always()" in steps["actions/upload-artifact"]["if"]
    # Every output is one the script sets.
    for name, spec in ACTION["outputs"].items():
        assert spec["value"] == f"${{{{ steps.linkhealth.outputs.{name} }}}}"


@pytest.mark.e2e
def test_the_outputs_a_run_sets_are_the_ones_action_yml_declares(tmp_path):
    with Web() as web, FakeGitHub(TOKEN) as github:
        web.moves["/old"] = "/ok"
        workspace = site_repository(tmp_path, {
            "_posts/a.md": {"title": "A", "webUrl": web.url("/old"),
                            "originalUrl": web.url("/status/404")},
            # A site with a package of linkhealth's name: the step never imports it.
            "crawler/__init__.py": "raise SystemExit('the crawler package of the site ran')\n"})
        step = Runner(tmp_path, workspace, api_url=github.url).run(
            issue="true", **{"pull-request": "true",
                             "args": f"{ARGS} -s LINKHEALTH_BROKEN_AFTER=1"})
    assert step.status == 2, step.log[-3000:]
    assert set(step.output_names) == set(ACTION["outputs"])
    assert len(step.output_names) == len(set(step.output_names))


# -- the documentation -----------------------------------------------------------------------

DOC = (REPO / "docs" / "github-action.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("page", ["README.md", "docs/github-action.md"])
def test_the_documented_workflow_is_yaml_that_gives_the_action_only_its_inputs(page):
    blocks = re.findall(r"```yaml\n(.*?)```", (REPO / page).read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 1
    workflow = yaml.safe_load(blocks[0])
    steps = workflow["jobs"]["links"]["steps"]
    assert steps[0]["uses"] == "actions/checkout@v4"  # the site first: the action crawls it
    ours = [step for step in steps if step["uses"].startswith("OWNER/linkhealth@")]
    assert len(ours) == 1 and set(ours[0].get("with", {})) <= set(ACTION["inputs"])
    # What the issue and the pull request need (docs/github-action.md#permissions).
    assert workflow["permissions"] == {"contents": "write", "issues": "write",
                                       "pull-requests": "write"}
    if page == "README.md":
        assert len(blocks[0].splitlines()) <= 10


def test_docs_list_every_input_with_its_default_and_every_output():
    inputs = dict(re.findall(r"^\| `([\w-]+)` \| (`[^|]*`|\(empty\)) \|", DOC, re.M))
    assert set(inputs) == set(ACTION["inputs"])
    for name, spec in ACTION["inputs"].items():
        assert inputs[name] == (f"`{spec['default']}`" if spec["default"] else "(empty)"), name
    outputs_section = DOC.split("## Outputs", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`([\w-]+)`", "".join(
        line.split("|")[1] for line in outputs_section.splitlines() if line.startswith("| `"))))
    assert documented == set(ACTION["outputs"])
