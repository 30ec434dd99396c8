"""The installed tool, as a user gets it: a wheel built from the checkout, installed with its
dependencies into a fresh virtual environment, run from a directory outside the checkout
(issue 19).

The wheel is built with this environment's setuptools (``--no-build-isolation``: no build
environment to download). pip installs it into the new environment as ``pip install`` of the
README would, with the dependencies pyproject.toml declares and nothing else, from the
package index: an import the tool makes but does not declare fails here. The ``distributed``
extra stays out, so its absence is tested too. The directory the commands run in sits under a
foreign ``scrapy.cfg``, which they must ignore.
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import sqlite3
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from urllib.request import urlopen

import pytest
import yaml

from tests.crawl import REPO, TEST_SETTINGS, write_site
from tests.webserver import Web, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SETTINGS = [arg for name, value in {**TEST_SETTINGS, "LINKHEALTH_BROKEN_AFTER": "1"}.items()
            for arg in ("-s", f"{name}={value}")]


def checkout_files() -> list[str]:
    """What `pip install .` of this working tree would see: tracked and untracked files that
    git does not ignore."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=REPO, capture_output=True, check=True, timeout=60).stdout
    return [name for name in listed.decode().split("\0") if name and (REPO / name).is_file()]


def build_wheel(tmp: Path) -> Path:
    source = tmp / "source"
    for name in checkout_files():
        target = source / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((REPO / name).read_bytes())
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-index",
                           "--no-build-isolation", "--quiet", "-w", str(tmp / "dist"),
                           str(source)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    (wheel,) = (tmp / "dist").glob("linkhealth-*.whl")
    return wheel


def make_venv(tmp: Path, wheel: Path) -> Path:
    """A new environment holding the wheel and what it declares (this environment's pip
    installs into it: the new one needs none of its own)."""
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    done = subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"),
                           "install", "--quiet", str(wheel)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return venv


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("install")
    wheel = build_wheel(tmp)
    venv = make_venv(tmp, wheel)
    # A foreign Scrapy project around the directory the commands run in.
    (tmp / "scrapy.cfg").write_text("[settings]\ndefault = someone_elses.settings\n")
    work = tmp / "work"
    work.mkdir()
    env = {name: value for name, value in os.environ.items()
           if name not in ("PYTHONPATH", "SCRAPY_SETTINGS_MODULE", "VIRTUAL_ENV")
           and not name.lower().endswith("_proxy")}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
               TLDEXTRACT_CACHE=str(tmp / "tldextract-cache"))
    return {"tmp": tmp, "wheel": wheel, "venv": venv, "work": work, "env": env}


def run(installed, *command: str, env: dict[str, str] | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=installed["work"], capture_output=True, text=True,
                          timeout=timeout, env={**installed["env"], **(env or {})})


def test_the_wheel_holds_what_the_tool_reads_at_run_time_and_nothing_else(installed):
    names = set(zipfile.ZipFile(installed["wheel"]).namelist())
    for needed in ("crawler/browse/metadata.yml", "crawler/browse/plugins/linkhealth_snapshots.py",
                   "crawler/report/templates/report.html.j2", "crawler/report/static/report.css",
                   "crawler/report/static/report.js", "crawler/spiders/links.py",
                   "crawler/spiders/links_worker.py", "crawler/jobs/synthetic_site.py"):
        assert needed in names, needed
    templates = {n for n in names if n.startswith("crawler/report/templates/")}
    assert templates == {f"crawler/report/{p.relative_to(REPO / 'crawler' / 'report')}"
                         for p in (REPO / "crawler" / "report" / "templates").iterdir()}
    tops = {name.split("/")[0] for name in names}
    assert {top for top in tops if not top.endswith(".dist-info")} == {"crawler"}
    entry_points = next(zipfile.ZipFile(installed["wheel"]).read(n).decode() for n in names
                        if n.endswith(".dist-info/entry_points.txt"))
    assert "linkhealth = crawler.cli.linkhealth:main" in entry_points
    assert "linkhealth_snapshots = crawler.browse.plugins.linkhealth_snapshots" in entry_points


def test_the_installed_tool_is_the_wheel_not_the_checkout(installed):
    done = run(installed, "python", "-c", "import crawler, redis")
    assert "No module named 'redis'" in done.stderr  # installed without the extra
    done = run(installed, "python", "-c", "import crawler; print(crawler.__file__)")
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()).is_relative_to(installed["venv"])
    version = run(installed, "linkhealth", "--version")
    assert version.returncode == 0 and version.stdout.startswith("linkhealth 0.")


def test_crawl_report_and_fix_from_outside_the_checkout(installed):
    work = installed["work"]
    with Web() as web:
        write_site(installed["tmp"] / "my-site", {
            "_news/2024-01-01-fine.md": {"title": "Fine", "webUrl": web.url("/ok"),
                                         "images": [{"url": web.url("/image.png")}]},
            "_news/2024-01-02-gone.md": {"title": "Gone", "webUrl": web.url("/status/404")},
        })
        crawled = run(installed, "linkhealth", "crawl", "../my-site", *SETTINGS)
        assert crawled.returncode == 0, crawled.stderr[-3000:]
        assert "Traceback" not in crawled.stderr
    assert (work / "state" / "linkhealth.db").is_file()  # the default, under the current directory
    assert web.hits("/ok") >= 1

    report = run(installed, "linkhealth", "report", "-o", "state/report.md")
    assert report.returncode == 0, report.stderr
    text = (work / "state" / "report.md").read_text(encoding="utf-8")
    assert web.url("/status/404") in text and "_news/2024-01-02-gone.md" in text
    assert "source ../my-site" in text  # as given, from the current directory

    assert run(installed, "linkhealth", "report", "--fail-on", "broken", *SETTINGS,
               "-o", "state/r.json", "--format", "json").returncode == 2
    assert run(installed, "linkhealth", "report", "--fail-on", "timeout",
               "-o", "state/r.json").returncode == 0
    typo = run(installed, "linkhealth", "report", "--fail-on", "brokn")
    assert typo.returncode == 1 and "unknown outcome" in typo.stderr
    unknown_option = run(installed, "linkhealth", "report", "--no-such-option")
    assert unknown_option.returncode == 1, unknown_option.stderr

    fixed = run(installed, "linkhealth", "fix", "-o", "fix.patch", *SETTINGS)
    assert fixed.returncode == 0, fixed.stderr
    assert (work / "fix.patch").is_file()


def wait_for_port(process: subprocess.Popen, port: int, timeout: float = 60) -> None:
    """Until something accepts connections on the port; fails if the process ends first or
    the deadline passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            try:
                process.wait(timeout=0.05)  # the pause between two tries, or its end
            except subprocess.TimeoutExpired:
                continue
            raise AssertionError(f"it exited with status {process.returncode}: "
                                 f"{process.stderr.read()[-3000:]}") from None
    raise AssertionError(f"nothing listened on port {port} within {timeout}s")


def serving(installed, command: list[str], port: int):
    process = subprocess.Popen(command, cwd=installed["work"], env=installed["env"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_port(process, port)
    except BaseException:
        process.kill()
        process.wait(timeout=30)
        raise
    return process


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=30)
    process.stderr.close()


def get(port: int, path: str):
    return urlopen(f"http://127.0.0.1:{port}{path}", timeout=30)


@pytest.fixture(scope="module")
def database(installed):
    """A crawl of a page and an image, from outside the checkout: snapshots to serve."""
    work = installed["work"] / "browse"
    work.mkdir()
    with Web() as web:
        write_site(installed["tmp"] / "browse-site", {
            "_news/a.md": {"title": "A", "webUrl": web.url("/status/404"),
                           "images": [{"url": web.url("/image.png")}]}})
        done = subprocess.run(["linkhealth", "crawl", "../../browse-site", *SETTINGS],
                              cwd=work, capture_output=True, text=True, timeout=120,
                              env=installed["env"])
        assert done.returncode == 0, done.stderr[-3000:]
    return work / "state" / "linkhealth.db"


def test_linkhealth_browse_answers_a_canned_query(installed, database):
    port = free_port()
    process = serving(installed, ["linkhealth", "browse", "--db", str(database),
                                  "--port", str(port)], port)
    try:
        rows = json.load(get(port, "/linkhealth/broken_by_document.json?_shape=array"))
        plugins = json.load(get(port, "/-/plugins.json"))
    finally:
        stop(process)
    assert [(row["path"], row["outcome"]) for row in rows] == [("_news/a.md", "broken")]
    assert [p["name"] for p in plugins if "register_routes" in p["hooks"]] == ["linkhealth"]


def test_datasette_alone_serves_the_snapshot_route(installed, database):
    with sqlite3.connect(database) as conn:
        (snapshot,) = conn.execute("SELECT s.id FROM snapshots s JOIN urls u ON u.id = s.url_id "
                                   "WHERE u.url LIKE '%/image.png'").fetchone()
    port = free_port()
    process = serving(installed, ["python", "-m", "datasette", str(database),
                                  "--port", str(port)], port)
    try:
        answer = get(port, f"/-/linkhealth/snapshot/linkhealth/{snapshot}")
        body = answer.read()
    finally:
        stop(process)
    assert answer.status == 200 and answer.headers["Content-Type"] == "image/png"
    assert body.startswith(b"\x89PNG")


@pytest.mark.parametrize("command, environment", [
    (["linkhealth", "worker"], {}),
    (["linkhealth", "ingest"], {"LINKHEALTH_REDIS_URL": "redis://127.0.0.1:1/0"}),
    (["linkhealth", "crawl", ".", "--workers", "2"], {}),
    (["linkhealth", "crawl", "."], {"LINKHEALTH_REDIS_URL": "redis://127.0.0.1:1/0"}),
], ids=["worker", "ingest", "crawl-workers", "crawl-redis-url"])
def test_a_distributed_run_without_the_extra_says_so_in_one_line(installed, command, environment):
    done = run(installed, *command, "-s", "LINKHEALTH_REDIS_SECRET=" + "k" * 32, env=environment)
    assert done.returncode == 1, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert "pip install 'linkhealth[distributed]'" in done.stderr.strip().splitlines()[-1]


def test_the_github_action_step_runs_from_the_installed_wheel(installed):
    """action.yml's script step, as written there, on the environment `pip install` of the
    action's checkout made: the script needs nothing from the checkout."""
    action = yaml.safe_load((REPO / "action.yml").read_text(encoding="utf-8"))
    step = next(step for step in action["runs"]["steps"] if step.get("id") == "linkhealth")
    command = shlex.split(step["run"])
    command[0] = str(installed["venv"] / "bin" / "python")
    root = installed["tmp"] / "action"
    with Web() as web:
        workspace = write_site(root / "workspace", {
            "_news/gone.md": {"title": "Gone", "webUrl": web.url("/status/404")}})
        env = {name: value for name, value in installed["env"].items()
               if not name.startswith(("GITHUB_", "INPUT_", "RUNNER_"))}
        env.update(RUNNER_TEMP=str(root / "temp"), GITHUB_WORKSPACE=str(workspace),
                   GITHUB_OUTPUT=str(root / "output"), GITHUB_STEP_SUMMARY=str(root / "summary"),
                   GITHUB_REPOSITORY="owner/site", INPUT_FAIL_ON="broken",
                   INPUT_ARGS=shlex.join(SETTINGS))
        done = subprocess.run(command, cwd=workspace, capture_output=True, text=True,
                              timeout=300, env=env)
    assert done.returncode == 2, (done.stdout + done.stderr)[-3000:]
    assert "Traceback" not in done.stdout + done.stderr
    summary = (root / "summary").read_text(encoding="utf-8")
    assert summary.startswith("# Link health report") and web.url("/status/404") in summary
    outputs = (root / "output").read_text(encoding="utf-8").splitlines()
    assert "broken=1" in outputs and "exit-code=2" in outputs
