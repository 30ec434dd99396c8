"""Synthetic Jekyll-style sites in the exact front-matter shape of a news collection.

    python -m crawler.jobs.synthetic_site OUT_DIR --documents 1200 --hosts 20 --base-port 8001

Every article is ``_news/YYYY-MM-DD-slug.md`` with ``title``, ``excerpt``,
``publishedDateTime``, ``originalUrl`` (= ``webUrl``), ``webUrl``, ``ampWebUrl``,
``cdnAmpWebUrl``, ``type: article``, ``provider`` (name, domain, a logo in
``images``), ``topics``, ``images`` (with ``isCached``), 0-5 ``related`` items and
a random base64 ``secured`` string. Files are written one at a time; only the set
of URLs seen (for the statistics) stays in memory.

Realistic repetition:
* a provider's logo (on the site's own host, ``hosts[0]``) is shared by all of its articles;
* related items are drawn from a pool with a Zipf-like law: a few are reused very often;
* URLs are spread over hosts with a Zipf-like law (host ``hosts[0]`` is the busiest),
  and every ``cdnAmpWebUrl`` is on one CDN host (``hosts[1]``), as AMP caches are.

URL paths tell the simulated web (``bench.simweb``, or the demo's ``crawler.jobs.demo_web``) what
to answer. Each URL draws a behaviour from
``DEFAULT_MIX`` (probabilities; pass ``mix=`` to change them):

    behaviour  p     page path                       image path
    ok         0.90  /a/<id>     200 html, ~50 KB    /i/<id>.jpg      200 image/jpeg, ~100 KB
    gone       0.04  /gone/<id>  404                 /gone/<id>.jpg   404
    moved      0.04  /moved/<id> 301 -> /a/<id>      /moved/<id>.jpg  301 -> /i/<id>.jpg
    slow       0.02  /slow/<id>  200 after a delay   /slow/<id>.jpg   200 after a delay

The delay of slow URLs is set on the simulated web (``bench.simweb --slow-ms``).

Same seed, same arguments: byte-identical files.
"""

from __future__ import annotations

import argparse
import base64
import itertools
import json
import random
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

DEFAULT_MIX: dict[str, float] = {"ok": 0.90, "gone": 0.04, "moved": 0.04, "slow": 0.02}
ZIPF_HOSTS = 1.0      # exponent of the host popularity law
ZIPF_RELATED = 1.1    # exponent of the related-article popularity law
PROVIDERS_PER_HOST = 3
START = datetime(2021, 1, 4, 6, 0, tzinfo=UTC)

_WORDS = (
    "river council data library volunteers garden solar bridge transit school clinic market "
    "archive harbour museum orchard workshop festival broadband cycling forest repair energy "
    "sensor weather budget housing tram ferry bakery studio quarry beacon canal meadow "
    "observatory pantry kiln loom mill lantern compass atlas ledger signal circuit model "
    "network vision language robot drone chip dataset benchmark startup research policy"
).split()
_TOPICS = ("Community", "Transport", "Energy", "Science", "Health", "Education", "Culture",
           "Technology", "Environment", "Open Data", "Robotics", "Policy")


@dataclass
class SiteStats:
    documents: int = 0
    broken_files: int = 0
    files: int = 0
    references: int = 0
    unique_urls: int = 0
    hosts_used: int = 0
    behaviours: dict[str, int] = field(default_factory=dict)  # unique URLs per behaviour


def host_address(index: int) -> str:
    """The loopback address of host ``index``: 127.0.0.2, 127.0.0.3, ..."""
    n = 2 + index
    if n > 254:
        raise ValueError("at most 253 hosts")
    return f"127.0.0.{n}"


def host_urls(count: int, port: int) -> list[str]:
    return [f"http://{host_address(i)}:{port}" for i in range(count)]


def url_path(kind: str, ident: str, behaviour: str) -> str:
    """The path that makes the simulated web answer ``behaviour`` for a page or an image."""
    suffix = ".jpg" if kind == "image" else ""
    if behaviour == "ok":
        return f"/i/{ident}.jpg" if kind == "image" else f"/a/{ident}"
    if behaviour not in ("gone", "moved", "slow"):
        raise ValueError(f"unknown behaviour {behaviour!r}")
    return f"/{behaviour}/{ident}{suffix}"


def _zipf_cum(n: int, s: float) -> list[float]:
    return list(itertools.accumulate(1.0 / (rank ** s) for rank in range(1, n + 1)))


def _q(text: str) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML)."""
    return json.dumps(text, ensure_ascii=False)


class _Generator:
    def __init__(self, hosts: list[str], documents: int, seed: int, mix: dict[str, float],
                 lean: bool = False):
        if not hosts:
            raise ValueError("at least one host")
        self.hosts, self.seed = [h.rstrip("/") for h in hosts], seed
        self.rng = random.Random(f"{seed}:site")
        self.behaviours, self.mix_cum = list(mix), list(itertools.accumulate(mix.values()))
        self.host_cum = _zipf_cum(len(self.hosts), ZIPF_HOSTS)
        self.providers = PROVIDERS_PER_HOST * len(self.hosts)
        self.provider_cum = _zipf_cum(self.providers, ZIPF_HOSTS)
        self.related_pool = max(10, documents // 2)
        self.related_cum = _zipf_cum(self.related_pool, ZIPF_RELATED)
        self.cdn = self.hosts[1 % len(self.hosts)]
        self.lean = lean
        self.urls: dict[str, str] = {}  # unique URL -> behaviour (for the statistics only)
        self.references = 0

    # -- building blocks -----------------------------------------------------

    def _url(self, rng: random.Random, host: str, kind: str, ident: str) -> str:
        behaviour = rng.choices(self.behaviours, cum_weights=self.mix_cum)[0]
        url = host + url_path(kind, ident, behaviour)
        self.urls.setdefault(url, behaviour)
        self.references += 1
        return url

    def _ref(self, url: str) -> str:
        self.references += 1
        return url

    def _host(self, rng: random.Random) -> str:
        return self.hosts[rng.choices(range(len(self.hosts)), cum_weights=self.host_cum)[0]]

    def _words(self, rng: random.Random, low: int, high: int) -> str:
        return " ".join(rng.choice(_WORDS) for _ in range(rng.randint(low, high)))

    def _provider(self, p: int) -> tuple[str, str, str]:
        """(name, domain, host) of provider ``p``."""
        return f"Provider {p} News", f"news{p}.example", self.hosts[p % len(self.hosts)]

    def _provider_lines(self, p: int, indent: str) -> list[str]:
        name, domain, _ = self._provider(p)
        return [f"{indent}provider:", f"{indent}  name: {_q(name)}", f"{indent}  domain: {domain}"]

    def _logo_lines(self, p: int) -> list[str]:
        rng = random.Random(f"{self.seed}:logo:{p}")  # same logo URL for every article of p
        url = self._url(rng, self.hosts[0], "image", f"logo-{p}")
        return ["  images:", f"    - url: {_q(url)}", "      width: 50", "      height: 50"]

    def _image_lines(self, rng: random.Random, ident: str, indent: str) -> list[str]:
        url = self._url(rng, self._host(rng), "image", ident)
        width = rng.choice((640, 800, 1024, 1200))
        return [f"{indent}images:", f"{indent}  - url: {_q(url)}", f"{indent}    width: {width}",
                f"{indent}    height: {width * 9 // 16}",
                f"{indent}    isCached: {'true' if rng.random() < 0.6 else 'false'}"]

    def _related_lines(self, r: int) -> list[str]:
        """Related item ``r`` of the pool: the same lines wherever it is reused."""
        rng = random.Random(f"{self.seed}:related:{r}")
        p = rng.choices(range(self.providers), cum_weights=self.provider_cum)[0]
        host = self._provider(p)[2]
        when = START - timedelta(minutes=rng.randint(0, 60 * 24 * 900))
        lines = [f"  - title: {_q(self._words(rng, 4, 10).capitalize())}",
                 f"    excerpt: {_q(self._words(rng, 12, 30).capitalize() + '.')}",
                 f"    publishedDateTime: {when:%Y-%m-%dT%H:%M:%SZ}",
                 f"    webUrl: {_q(self._url(rng, host, 'page', f'r{r}'))}"]
        if rng.random() < 0.4:
            lines.append(f"    ampWebUrl: {_q(self._url(rng, host, 'page', f'r{r}/amp'))}")
            lines.append(f"    cdnAmpWebUrl: {_q(self._url(rng, self.cdn, 'page', f'c/r{r}/amp'))}")
        lines += ["    type: article", *self._provider_lines(p, "    "),
                  f"    quality: {rng.randint(1, 100)}"]
        if rng.random() < 0.7:
            lines += self._image_lines(rng, f"r{r}", "    ")
        return lines

    # -- documents -------------------------------------------------------------

    def article(self, n: int) -> tuple[str, str]:
        """(file name, text) of article ``n``."""
        rng = self.rng
        when = START + timedelta(hours=7 * n, minutes=rng.randint(0, 59))
        title = self._words(rng, 5, 11).capitalize()
        slug = "-".join(title.lower().split()[:6]) + f"-{n}"
        p = rng.choices(range(self.providers), cum_weights=self.provider_cum)[0]
        host = self._provider(p)[2]
        web = self._url(rng, host, "page", f"n{n}")
        if self.lean:
            return f"{when:%Y-%m-%d}-{slug}.md", self._lean(rng, when, title, web, p)
        lines = ["---", "category: news", f"title: {_q(title)}",
                 f"excerpt: {_q(self._words(rng, 15, 40).capitalize() + '.')}",
                 f"publishedDateTime: {when:%Y-%m-%dT%H:%M:%SZ}",
                 f"originalUrl: {_q(self._ref(web))}", f"webUrl: {_q(web)}",
                 f"ampWebUrl: {_q(self._url(rng, host, 'page', f'n{n}/amp'))}",
                 f"cdnAmpWebUrl: {_q(self._url(rng, self.cdn, 'page', f'c/n{n}/amp'))}",
                 "type: article", "", *self._provider_lines(p, "")]
        if p % 5 != 4:  # most providers have a logo
            lines += self._logo_lines(p)
        lines += ["", "topics:", *(f"  - {t}" for t in rng.sample(_TOPICS, rng.randint(1, 3))), ""]
        lines += self._image_lines(rng, f"n{n}", "") + [""]
        related = sorted({rng.choices(range(self.related_pool), cum_weights=self.related_cum)[0]
                          for _ in range(rng.randint(0, 5))})
        if related:
            lines.append("related:")
            for r in related:
                lines += self._related_lines(r)
            lines.append("")
        secured = (base64.b64encode(rng.randbytes(rng.randint(150, 200))).decode() + ";"
                   + base64.b64encode(rng.randbytes(16)).decode())
        lines += [f"secured: {_q(secured)}", "---", "", self._words(rng, 30, 80).capitalize() + ".", ""]
        return f"{when:%Y-%m-%d}-{slug}.md", "\n".join(lines)

    def _lean(self, rng: random.Random, when: datetime, title: str, web: str, p: int) -> str:
        """Three references, one new URL: the page (as originalUrl and webUrl) and the
        provider's shared logo."""
        lines = ["---", "category: news", f"title: {_q(title)}",
                 f"excerpt: {_q(self._words(rng, 15, 40).capitalize() + '.')}",
                 f"publishedDateTime: {when:%Y-%m-%dT%H:%M:%SZ}",
                 f"originalUrl: {_q(self._ref(web))}", f"webUrl: {_q(web)}", "type: article",
                 "", *self._provider_lines(p, ""), *self._logo_lines(p), "",
                 "topics:", *(f"  - {t}" for t in rng.sample(_TOPICS, rng.randint(1, 3))),
                 "---", "", self._words(rng, 30, 80).capitalize() + ".", ""]
        return "\n".join(lines)

    def broken(self, n: int) -> tuple[str, str]:
        """A file whose YAML does not parse: an unclosed quote and a bad indentation."""
        when = START + timedelta(hours=5 * n + 3)
        text = "\n".join([
            "---", "category: news", f'title: "Broken front matter {n}',
            f"webUrl: \"{self.hosts[0]}/a/broken-{n}\"", "provider:", "    name: Broken",
            "  domain: broken.example", "---", "", "Never read.", ""])
        return f"{when:%Y-%m-%d}-broken-front-matter-{n}.md", text


def generate_site(root: Path, *, documents: int, hosts: list[str], seed: int = 0,
                  broken_files: int = 0, mix: dict[str, float] | None = None,
                  lean: bool = False) -> SiteStats:
    """Write a site of ``documents`` articles (+ ``broken_files`` unparsable ones) under ``root``.

    ``lean`` articles hold three references and one new URL each (the page as ``originalUrl``
    and ``webUrl``, and the provider's logo): 100,000 of them are 300,000 references to
    about 100,000 URLs."""
    mix = dict(mix or DEFAULT_MIX)
    if any(v < 0 for v in mix.values()) or abs(sum(mix.values()) - 1.0) > 1e-6:
        raise ValueError(f"the behaviour mix must be probabilities adding up to 1: {mix}")
    root = Path(root)
    news = root / "_news"
    news.mkdir(parents=True, exist_ok=True)
    (root / "_config.yml").write_text(f'title: Synthetic news\nurl: "{hosts[0]}"\nbaseurl: ""\n',
                                      encoding="utf-8")
    gen = _Generator(hosts, documents, seed, mix, lean)
    for n in range(documents):
        name, text = gen.article(n)
        (news / name).write_text(text, encoding="utf-8")
    for n in range(broken_files):
        name, text = gen.broken(n)
        (news / name).write_text(text, encoding="utf-8")
    behaviours = dict.fromkeys(mix, 0)
    for behaviour in gen.urls.values():
        behaviours[behaviour] += 1
    hosts_used = {url.split("/", 3)[2] for url in gen.urls}
    return SiteStats(documents=documents, broken_files=broken_files, files=documents + broken_files,
                     references=gen.references, unique_urls=len(gen.urls),
                     hosts_used=len(hosts_used), behaviours=behaviours)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--documents", type=int, default=1200)
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--base-port", type=int, default=8001)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--broken-files", type=int, default=0)
    parser.add_argument("--lean", action="store_true",
                        help="three references and one new URL per article")
    parser.add_argument("--mix", type=json.loads, default=None,
                        help='behaviour probabilities as JSON, e.g. \'{"ok": 0.8, "gone": 0.2}\'')
    args = parser.parse_args(argv)
    stats = generate_site(args.out_dir, documents=args.documents, seed=args.seed,
                          hosts=host_urls(args.hosts, args.base_port),
                          broken_files=args.broken_files, mix=args.mix, lean=args.lean)
    print(json.dumps(asdict(stats)))


if __name__ == "__main__":
    main()
