"""``scrapy fix`` on a real site, on the simulated internet: crawls, patch, ``git apply``, crawl again.

```sh
.venv/bin/python -m bench.fix_real_site [--site DIR] [--seed 1] \\
    [--moved 0.05] [--soft-moved 0.01] [--dead 0.05] [--dead-hosts 0.02] [--archived 0.5] \\
    [--scenario web.json] [--body] [--latency-ms 20] [--keep DIR] [--out result.json] [-s NAME=VALUE ...]
```

The site (by default the powerapps corpus, ``../shared/corpus/powerapps`` beside the
checkout) is copied into a work directory and committed to a git repository of its own
there; the directory given is only read. On the simulated internet (``bench.sim_internet``,
with the copy itself served at the site's base URL, as once deployed):

1. crawl 1 on the base web: snapshots of everything that answers;
2. the web changes (``bench.sim_scenario``, or ``--scenario FILE``): URLs moved through
   301/308 chains, URLs redirected to their home or a login page (not moves), dead URLs
   (404, 410) and hosts, and Wayback Machine captures of a share of the gone URLs;
3. crawls 2 and 3 with ``LINKHEALTH_WAYBACK=1``: moves and deaths confirmed
   (``LINKHEALTH_BROKEN_AFTER`` = 2);
4. what ``scrapy fix`` changes with each ``--dead`` mode (none, wayback, local, auto);
5. ``scrapy fix --dead auto -o fix.patch``, ``git apply --check``, ``git apply``, a commit;
6. every patched file read back with the crawler's reader (``bench.fix_readback``): the same
   data but for the changed values, the same body; every local copy as the patch wrote it;
7. crawl 4, then ``scrapy fix --dead auto`` again: nothing left to do for the references
   fixed, none of them redirected permanently, and no reference ever written as the home or
   login page a link was redirected to.

``--body``: the crawls check body links too (``-a body_links=1``), and the fix changes them
(``scrapy fix --body``). It prints the figures; ``--out`` writes them as JSON. Exit status 1
when a check failed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import stat
import subprocess
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.fix_readback import file_problems
from bench.sim_scenario import Shares, choose, site_urls
from bench.sim_world import Base, Scenario, World
from bench.workdir import run_in_workdir
from crawler.core.urls import Target, resolve
from crawler.fix.plan import DeadPolicy, Options, Plan, make_plan, reason_kind
from crawler.site.sources import read_site_config
from crawler.store.database import Store

REPO = Path(__file__).resolve().parents[1]
# The corpus beside the checkout (/work/main) or beside the worktrees' directory (/work/wt/x).
DEFAULT_SITE = next((path for path in (REPO.parent / "shared/corpus/powerapps",
                                       REPO.parents[1] / "shared/corpus/powerapps")
                     if path.is_dir()), REPO.parent / "shared/corpus/powerapps")
MODES = ("none", "wayback", "local", "auto")
WHY = ("moved", "wayback", "local", "removed")
GIT_IDENTITY = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "bench",
                "GIT_AUTHOR_EMAIL": "bench@localhost.invalid", "GIT_COMMITTER_NAME": "bench",
                "GIT_COMMITTER_EMAIL": "bench@localhost.invalid"}


class Steps:
    """The seconds of each step, in order."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def time(self, name: str, started: float) -> None:
        self.seconds[name] = round(time.monotonic() - started, 2)


# --- the site and the web -----------------------------------------------------------------


def copy_site(source: Path, site: Path) -> None:
    """A writable copy of the site (without its .git), committed to a repository of its own."""
    shutil.copytree(source, site, symlinks=True, ignore=shutil.ignore_patterns(".git"))
    for path in [site, *site.rglob("*")]:
        if not path.is_symlink():
            mode = path.stat().st_mode
            path.chmod(mode | stat.S_IWUSR | (stat.S_IXUSR if path.is_dir() else 0))
    _git_config(site).write_text("")
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "the site, as crawled"]):
        git(site, *command, check=True)


def _git_config(site: Path) -> Path:
    """An empty global git configuration beside the site: the user's does not apply."""
    return site.parent / "gitconfig"


def git(site: Path, *args: str, check: bool = False) -> subprocess.CompletedProcess:
    env = {**os.environ, **GIT_IDENTITY, "GIT_CONFIG_GLOBAL": str(_git_config(site))}
    done = subprocess.run(["git", *args], cwd=site, env=env, capture_output=True, text=True,
                          check=False)
    if check and done.returncode != 0:
        raise SystemExit(f"git {' '.join(args)} failed: {done.stderr.strip()}")
    return done


def web_files(args: argparse.Namespace, site: Path, work: Path) -> tuple[Path, Path, dict]:
    """The base web's state file and the changed web's, both serving the site at its base URL."""
    base_url = read_site_config(site).base_url
    served = {base_url + "/": str(site)} if base_url else {}
    if args.scenario:
        changed = replace(Scenario.load(args.scenario), served=served)
        base = replace(changed, moved={}, dead={}, dead_hosts={}, changed=[], archived=[])
    else:
        base = Scenario(seed=args.seed, base=Base(**{name: getattr(args, name) for name in
                                                     ("not_found", "redirects", "dns_fail_hosts")}),
                        served=served)
        shares = Shares(moved=args.moved, soft_moved=args.soft_moved, dead=args.dead,
                        dead_hosts=args.dead_hosts, archived=args.archived, draw=args.draw)
        changed = choose(site_urls(site, args.body), base, shares).scenario
    files = []
    for name, scenario in (("web-1.json", base), ("web-2.json", changed)):
        files.append(work / name)
        files[-1].write_text(json.dumps(scenario.to_json(), indent=1), encoding="utf-8")
    soft = sum(1 for chain in changed.moved.values() if _soft(chain[-1][1]))
    return files[0], files[1], {
        "moved": len(changed.moved) - soft, "moved_to_home_or_login": soft,
        "dead": len(changed.dead), "dead_hosts": len(changed.dead_hosts),
        "archived": len(changed.archived), "soft_targets": sorted(
            {chain[-1][1] for chain in changed.moved.values() if _soft(chain[-1][1])})}


def _soft(location: str) -> bool:
    path = location.split("://", 1)[-1].partition("/")[2]
    return path == "" or path.startswith("login")


def crawl(args: argparse.Namespace, work: Path, run: int, web: Path, wayback: bool) -> dict:
    """One real crawl through the simulated internet (``bench.sim_internet crawl``)."""
    out = work / f"crawl-{run}.json"
    settings = ["LINKHEALTH_WAYBACK_DELAY=0", f"LINKHEALTH_WAYBACK={int(wayback)}", *args.setting]
    command = [sys.executable, "-m", "bench.sim_internet", "crawl", "--site", str(work / "site"),
               "--db", str(work / "linkhealth.db"), "--scenario", str(web),
               "--latency-ms", str(args.latency_ms), "--python", args.python,
               "--log", str(work / "crawl.log"), "--out", str(out), "--timeout", str(args.timeout),
               *(part for s in settings for part in ("-s", s)),
               *(["-a", "body_links=1"] if args.body else [])]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not out.exists():
        log = (work / "crawl.log").read_text(errors="replace")[-3000:]
        raise SystemExit(f"crawl {run} failed ({done.stderr.strip()[-1000:]}):\n{log}")
    summary = json.loads(out.read_text())
    return {"run": run, "wall_seconds": summary["wall_seconds"],
            "urls_checked": summary["urls_checked"], "outcomes": summary["outcomes"],
            "permanent_redirects": summary["permanent_redirects"],
            "snapshots_stored": summary["snapshots_stored"], "log_tracebacks": summary["log_tracebacks"]}


# --- the fix ------------------------------------------------------------------------------


def plans(db: Path, site: Path, runs: int, body: bool) -> tuple[dict[str, Plan], dict[str, float]]:
    """What ``scrapy fix`` would do with each ``--dead`` mode, and the seconds of each plan."""
    made, seconds = {}, {}
    with Store(db, readonly=True) as store:
        for mode in MODES:
            started = time.monotonic()
            made[mode] = make_plan(store.db, site, None,
                                   Options(runs=runs, dead=DeadPolicy.parse(mode), body=body))
            seconds[mode] = round(time.monotonic() - started, 2)
    return made, seconds


def plan_figures(plan: Plan) -> dict:
    counts = plan.counts()
    return {**{why: counts[why] for why in WHY}, "references": len(plan.changes),
            "files": len(plan.files), "new_files": len(plan.new_files),
            "not_fixed": dict(Counter(reason_kind(item.reason) for item in plan.not_fixed)
                              .most_common())}


def by_web_kind(plan: Plan, web: Path) -> dict[str, dict[str, int]]:
    """What the plan does with the references, by what the simulated web meant by their URL:
    ``{"moved (scenario)": {"moved": 250}, "dead: 404": {"wayback": 30, "not fixed: no
    Wayback capture": 12}, ...}``."""
    world, base = World(Scenario.load(web)), plan.run.get("base_url")
    table: dict[str, Counter[str]] = {}
    outcomes = [(c.old, c.why) for c in plan.changes] + [
        (item.old, "not fixed: " + reason_kind(item.reason)) for item in plan.not_fixed]
    for old, outcome in outcomes:
        target = resolve(old, base)
        kind = world.kind_of(target.key) if isinstance(target, Target) else "not a URL"
        table.setdefault(kind, Counter())[outcome] += 1
    return {kind: dict(counts.most_common()) for kind, counts in sorted(table.items())}


def fix_command(args: argparse.Namespace, work: Path, *options: str) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    done = subprocess.run([args.python, "-m", "scrapy", "fix", "--db", str(work / "linkhealth.db"),
                           "--dead", "auto", "--broken-after", str(args.broken_after),
                           *(["--body"] if args.body else []), *options],
                          cwd=REPO, capture_output=True, check=False)
    return done, round(time.monotonic() - started, 2)


def apply_patch(site: Path, patch: Path, steps: Steps) -> dict:
    started = time.monotonic()
    check = git(site, "apply", "--check", str(patch))
    steps.time("git apply --check", started)
    started = time.monotonic()
    applied = git(site, "apply", str(patch)) if check.returncode == 0 else check
    steps.time("git apply", started)
    if applied.returncode == 0:
        git(site, "add", "-A", check=True)
        git(site, "commit", "-qm", "scrapy fix --dead auto", check=True)
    return {"check": "ok" if check.returncode == 0 else check.stderr.strip()[:2000],
            "applied": applied.returncode == 0}


def readback(site: Path, plan: Plan, scratch: Path, body: bool) -> dict:
    """Each patched file against its committed original, read by the crawler's reader."""
    problems: dict[str, list[str]] = {}
    for change in plan.files:
        new = (site / change.path).read_bytes()
        found = [] if new == change.new else ["the file on disk is not what the plan wrote"]
        found += file_problems(scratch, change.path, change.old, new,
                               (c for c in plan.changes if c.path == change.path), body)
        if found:
            problems[change.path] = found
    copies = [path for path, data in plan.new_files.items()
              if not (site / path).is_file() or (site / path).read_bytes() != data]
    return {"files_checked": len(plan.files), "files_with_problems": problems,
            "local_copies_checked": len(plan.new_files), "local_copies_wrong": copies}


# --- after the fix --------------------------------------------------------------------------


def after(db: Path, site: Path, runs: int, first: Plan, body: bool) -> dict:
    """The fixed references as crawl 4 found them, and what a second fix would change. A
    reference is its file, field and URL as written: a body line may link several URLs."""
    rewritten = {(c.path, c.field, c.new) for c in first.changes if c.new is not None}
    removed = {(c.path, c.field) for c in first.changes if c.new is None}
    with Store(db, readonly=True) as store:
        run = next(store.db.query("SELECT max(id) AS id FROM runs"))["id"]
        rows = list(store.db.query(
            "SELECT d.path, r.field, r.raw, c.outcome, c.permanent_redirect FROM refs r"
            " JOIN documents d ON d.id = r.document_id"
            " LEFT JOIN checks c ON c.url_id = r.url_id AND c.run_id = :run"
            " WHERE r.first_run_id <= :run AND r.last_run_id >= :run", {"run": run}))
        second = make_plan(store.db, site, None,
                           Options(runs=runs, dead=DeadPolicy.parse("auto"), body=body))
    now = {(row["path"], row["field"], row["raw"]): row for row in rows}
    found = [now[key] for key in rewritten if key in now]
    return {
        "run": run,
        "fixed_references_read_as_written": len(found),
        "fixed_references": len(rewritten),
        "fixed_outcomes": dict(Counter(row["outcome"] for row in found)),
        "fixed_with_permanent_redirect": sum(1 for row in found if row["permanent_redirect"]),
        "removed_fields_still_there": sum(1 for row in rows if (row["path"], row["field"]) in removed),
        "second_fix": plan_figures(second),
        "second_fix_of_fixed_references": sum(1 for c in second.changes
                                              if (c.path, c.field, c.old) in rewritten),
    }


# --- the whole run ----------------------------------------------------------------------------


def bench(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    steps, site, db = Steps(), work / "site", work / "linkhealth.db"
    started = time.monotonic()
    copy_site(args.site, site)
    steps.time("copy and commit the site", started)
    started = time.monotonic()
    web_1, web_2, scenario = web_files(args, site, work)
    steps.time("choose the changed web", started)
    crawls = []
    for run, web, wayback in ((1, web_1, False), (2, web_2, True), (3, web_2, True)):
        crawls.append(crawl(args, work, run, web, wayback))
        steps.seconds[f"crawl {run}"] = crawls[-1]["wall_seconds"]
    runs = args.broken_after
    made, plan_seconds = plans(db, site, runs, args.body)
    web_kinds = by_web_kind(made["auto"], web_2)
    steps.seconds.update({f"plan --dead {mode}": s for mode, s in plan_seconds.items()})
    patch = work / "fix.patch"
    done, steps.seconds["scrapy fix -o fix.patch"] = fix_command(args, work, "-o", str(patch))
    command = _command_figures(done, made["auto"])
    applied = apply_patch(site, patch, steps) if done.returncode == 0 else {"check": "no patch"}
    started = time.monotonic()
    checked = readback(site, made["auto"], work / "scratch", args.body)
    steps.time("read back", started)
    crawls.append(crawl(args, work, 4, web_2, True))
    steps.seconds["crawl 4"] = crawls[-1]["wall_seconds"]
    started = time.monotonic()
    again = after(db, site, runs, made["auto"], args.body)
    again_done, steps.seconds["scrapy fix again"] = fix_command(args, work)
    steps.time("after the fix", started)
    again["second_command_patch_bytes"] = len(again_done.stdout)
    soft_written = sum(1 for c in made["auto"].changes if c.new in scenario["soft_targets"]) + \
        web_kinds.get("moved to home or login (scenario)", {}).get("moved", 0)
    result = {"site": str(args.site), "scenario": {k: v for k, v in scenario.items() if k != "soft_targets"},
              "crawls": crawls, "modes": {mode: plan_figures(plan) for mode, plan in made.items()},
              "auto_by_web_kind": web_kinds,
              "command": command, "patch_bytes": patch.stat().st_size if patch.exists() else 0,
              "git_apply": applied, "readback": checked, "after": again,
              "written_as_home_or_login": soft_written, "seconds": steps.seconds}
    result["failures"] = failures(result)
    return result


def _command_figures(done: subprocess.CompletedProcess, plan: Plan) -> dict:
    lines = done.stderr.decode(errors="replace").splitlines()
    return {"exit_status": done.returncode, "summary": lines[1] if len(lines) > 1 else "",
            "agrees_with_the_plan": len(lines) > 1 and lines[1] == plan.summary().splitlines()[0],
            "not_fixed_lines": sum(1 for line in lines if line.startswith("  not fixed: "))}


def failures(result: dict) -> list[str]:
    after = result["after"]
    checks = {
        "the fix command failed": result["command"]["exit_status"] != 0,
        "the command's summary is not the plan's": not result["command"]["agrees_with_the_plan"],
        "git apply --check refused the patch": result["git_apply"]["check"] != "ok",
        "a patched file does not read back": bool(result["readback"]["files_with_problems"]),
        "a local copy is not as the patch wrote it": bool(result["readback"]["local_copies_wrong"]),
        "a reference was written as a home or login page": result["written_as_home_or_login"] > 0,
        "a fixed reference reads otherwise after the fix":
            after["fixed_references_read_as_written"] != after["fixed_references"],
        "a fixed reference still redirects permanently": after["fixed_with_permanent_redirect"] > 0,
        "a removed field is still there": after["removed_fields_still_there"] > 0,
        "the second fix changes a fixed reference again": after["second_fix_of_fixed_references"] > 0,
        "a crawl logged a traceback": any(c["log_tracebacks"] for c in result["crawls"]),
    }
    return [what for what, failed in checks.items() if failed]


# --- output -----------------------------------------------------------------------------------


def render(result: dict) -> str:
    s, after = result["scenario"], result["after"]
    lines = [f"scrapy fix on {result['site']} (simulated internet)",
             f"changed web: {s['moved']} URLs moved, {s['moved_to_home_or_login']} redirected to a "
             f"home or login page, {s['dead']} dead, {s['dead_hosts']} dead hosts, "
             f"{s['archived']} gone URLs with Wayback captures", ""]
    lines.append(f"{'crawl':<6}{'wall s':>8}{'URLs':>7}{'ok':>7}{'failing':>9}{'perm. redir.':>14}{'snapshots':>11}")
    for c in result["crawls"]:
        ok = c["outcomes"].get("ok", 0)
        lines.append(f"{c['run']:<6}{c['wall_seconds']:>8}{c['urls_checked']:>7,}{ok:>7,}"
                     f"{c['urls_checked'] - ok:>9,}{c['permanent_redirects']:>14,}{c['snapshots_stored']:>11,}")
    lines += ["", f"{'--dead':<9}" + "".join(f"{w:>9}" for w in (*WHY, "refs", "files", "copies"))
              + "  not fixed"]
    for mode, f in result["modes"].items():
        lines.append(f"{mode:<9}" + "".join(f"{f[k]:>9,}" for k in (*WHY, "references", "files", "new_files"))
                     + "  " + ", ".join(f"{n} {why}" for why, n in f["not_fixed"].items()))
    lines += ["", "--dead auto, by what the web meant:"]
    lines += [f"  {kind}: " + ", ".join(f"{n} {what}" for what, n in outcomes.items())
              for kind, outcomes in result["auto_by_web_kind"].items()]
    applied = result["git_apply"]
    lines += ["", f"scrapy fix --dead auto -o fix.patch: exit {result['command']['exit_status']}, "
                  f"{result['patch_bytes']:,} bytes; `{result['command']['summary']}`",
              f"git apply --check: {applied['check']}; applied: {applied.get('applied', False)}",
              f"read back: {result['readback']['files_checked']} files, "
              f"{len(result['readback']['files_with_problems'])} with a problem; "
              f"{result['readback']['local_copies_checked']} local copies, "
              f"{len(result['readback']['local_copies_wrong'])} wrong",
              f"written as a home or login page: {result['written_as_home_or_login']}",
              f"crawl {after['run']}: {after['fixed_references']} rewritten references "
              f"({after['fixed_references_read_as_written']} read as written): {after['fixed_outcomes']}, "
              f"{after['fixed_with_permanent_redirect']} redirected permanently; "
              f"{after['removed_fields_still_there']} removed fields still there",
              f"second fix: {after['second_fix']['references']} references "
              f"({after['second_fix_of_fixed_references']} of them fixed before), "
              f"patch {after['second_command_patch_bytes']} bytes; not fixed: "
              + (", ".join(f"{n} {why}" for why, n in after["second_fix"]["not_fixed"].items()) or "none"),
              "", "seconds: " + ", ".join(f"{k} {v}" for k, v in result["seconds"].items())]
    lines.append("FAILED: " + "; ".join(result["failures"]) if result["failures"] else "all checks passed")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--site", type=Path, default=DEFAULT_SITE,
                        help=f"the site's directory, only read (default {DEFAULT_SITE})")
    parser.add_argument("--scenario", type=Path, help="the changed web's state file (default: drawn)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--draw", type=int, default=0)
    for name, default, help_text in (
            ("moved", 0.05, "share of URLs moved"), ("soft-moved", 0.01, "redirected to home or login"),
            ("dead", 0.05, "share of URLs dead"), ("dead-hosts", 0.02, "share of hosts dead"),
            ("archived", 0.5, "share of the gone URLs with Wayback captures"),
            ("not-found", Base.not_found, "base web: 404s"), ("redirects", Base.redirects,
                                                              "base web: moved from the start"),
            ("dns-fail-hosts", Base.dns_fail_hosts, "base web: hosts that do not resolve")):
        parser.add_argument("--" + name, type=float, default=default, help=help_text)
    parser.add_argument("--body", action="store_true", help="check and fix body links too")
    parser.add_argument("--broken-after", type=int, default=2, help="LINKHEALTH_BROKEN_AFTER")
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("-s", "--setting", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--python", default=sys.executable, help="interpreter of the crawls")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per crawl")
    parser.add_argument("--keep", type=Path, help="keep the work directory here")
    parser.add_argument("--out", type=Path, help="write the figures as JSON")
    args = parser.parse_args(argv)
    args.site = args.site.resolve()
    if not args.site.is_dir():
        parser.error(f"no site directory at {args.site}")
    args.setting.append(f"LINKHEALTH_BROKEN_AFTER={args.broken_after}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if run_in_workdir(args, "fix-real-site-", bench, render)["failures"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
