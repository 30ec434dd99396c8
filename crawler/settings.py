"""Scrapy settings of linkhealth.

Scrapy's defaults are made explicit wherever a link checker needs others;
``LINKHEALTH_*`` defaults come from ``crawler/defaults.py``, the reactor's choice from
``crawler/core/reactor.py``.
"""

import os

from scrapy.settings import default_settings as scrapy_defaults

from crawler.core.reactor import preferred_reactor
from crawler.defaults import DEFAULTS

globals().update(DEFAULTS)
# A distributed run's Redis URL (with its password) and signing key come from the environment
# when set there: a command line (`-s`) is readable by every user of the machine in /proc.
LINKHEALTH_REDIS_URL = os.environ.get("LINKHEALTH_REDIS_URL", DEFAULTS["LINKHEALTH_REDIS_URL"])
LINKHEALTH_REDIS_SECRET = os.environ.get("LINKHEALTH_REDIS_SECRET",
                                         DEFAULTS["LINKHEALTH_REDIS_SECRET"])

# tldextract downloads the public-suffix list the first time an extractor is used, and
# Scrapy's CookiesMiddleware builds its own extractor: an empty URL list (tldextract's
# documented environment knob) makes every extractor in this process use the bundled
# snapshot. Our own (crawler/core/urls.py) is built offline explicitly.
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

BOT_NAME = "linkhealth"
# linkhealth's spiders (installed with the package), then the Scrapy project's own folder for
# the `scrapy` command run from the repository root. The installed `linkhealth` command loads
# only the first (crawler/cli/linkhealth.py).
SPIDER_MODULES = ["crawler.spiders", "spiders"]
NEWSPIDER_MODULE = "spiders"
COMMANDS_MODULE = "crawler.commands"

# Measured here: the asyncio reactor let far more than CONCURRENT_REQUESTS_PER_DOMAIN
# requests reach one host at once; the epoll reactor holds the limit (tests/test_politeness.py).
# Without epoll (macOS, Windows): the select reactor, which held it too, and a line in the log.
TWISTED_REACTOR = preferred_reactor()

# Politeness and throughput.
CONCURRENT_REQUESTS = 128
CONCURRENT_REQUESTS_PER_DOMAIN = 8
DOWNLOAD_DELAY = 0
ROBOTSTXT_OBEY = False  # one HEAD/GET per referenced URL, as a browser following the link would
CONCURRENT_ITEMS = 1  # the default 100 spawns that many tasks per callback output
# Scrapy re-parses the callback's source for every response to warn about `return` in a
# generator: 11% of the crawl's CPU in a profile of bench/archive_bench.py.
WARN_ON_GENERATOR_RETURN_VALUE = False
# Requests wait in the scheduler until their host may take them (its concurrency, its pace
# after rate-limit answers, a retry's backoff), never in the downloader, where each would hold
# a place of CONCURRENT_REQUESTS (crawler/policy/host_queue.py).
SCHEDULER_PRIORITY_QUEUE = "crawler.policy.host_queue.HostQueue"
REACTOR_THREADPOOL_MAXSIZE = 20

# Each unique URL is requested once per run: the spider deduplicates on our own key.
# Scrapy's fingerprint canonicalises URLs (sorts the query...), which would merge distinct URLs.
DUPEFILTER_CLASS = "scrapy.dupefilters.BaseDupeFilter"
# Scrapy's scheduler. With LINKHEALTH_REDIS_URL set, the links spider sets SCHEDULER to
# crawler.distributed.coordinator.CoordinatorScheduler: each URL goes to a shared Redis
# frontier for `scrapy crawl links-worker` processes (docs/scale-out.md). Only then are
# redis and its company imported (93 ms at every start).

DOWNLOAD_TIMEOUT = 30
DNS_TIMEOUT = 20
DOWNLOAD_MAXSIZE = 0  # bodies are cut by crawler.fetch.body_limit at their own cap, never dropped
DOWNLOAD_WARNSIZE = 0
DOWNLOAD_FAIL_ON_DATALOSS = False

# Every status reaches the spider: the classifier judges, not HttpErrorMiddleware.
HTTPERROR_ALLOW_ALL = True
RETRY_TIMES = 2
RETRY_HTTP_CODES = [429, 502, 503, 504, 408, 522, 524]
REDIRECT_MAX_TIMES = 10
METAREFRESH_ENABLED = False
COOKIES_ENABLED = True  # some sites redirect in a loop until a cookie is kept
COOKIES_DEBUG = False

DEFAULT_REQUEST_HEADERS = {
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,image/*;q=0.8,*/*;q=0.7",
    "Accept-Language": "en",
}
DOWNLOAD_HANDLERS = {
    "http": "crawler.fetch.handler.GuardedHTTPDownloadHandler",
    "https": "crawler.fetch.handler.GuardedHTTPDownloadHandler",
}

DOWNLOADER_MIDDLEWARES = {
    "scrapy.downloadermiddlewares.useragent.UserAgentMiddleware": None,
    "crawler.policy.user_agent.UserAgentMiddleware": 500,
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "crawler.policy.retries.BackoffRetryMiddleware": 550,
    "crawler.fetch.tls_diagnosis.TlsDiagnosisMiddleware": 560,
    "crawler.policy.head_fallback.HeadFallbackMiddleware": 540,
    "scrapy.downloadermiddlewares.redirect.RedirectMiddleware": None,
    "scrapy.downloadermiddlewares.httpcompression.HttpCompressionMiddleware": None,
    "crawler.fetch.decompression.DecompressionMiddleware": 590,
    "crawler.policy.redirects.RedirectChainMiddleware": 600,
    # Both see every answer before the redirect middleware turns a 3xx into a new request.
    "crawler.policy.host_pacing.HostPacingMiddleware": 604,
    "crawler.policy.host_health.HostHealthMiddleware": 607,
    "crawler.policy.conditional.ConditionalRequestMiddleware": 610,
    # Each enabled middleware is a hop for every request and response. These two do nothing
    # here: the spider sets no allowed_domains and no http_user (credentials in a URL become
    # an Authorization header in the spider).
    "scrapy.downloadermiddlewares.offsite.OffsiteMiddleware": None,
    "scrapy.downloadermiddlewares.httpauth.HttpAuthMiddleware": None,
    # The same downloader/* stats, counted in batches (crawler/fetch/download_stats.py).
    "scrapy.downloadermiddlewares.stats.DownloaderStats": None,
    "crawler.fetch.download_stats.BatchedDownloaderStats": 850,
}
SPIDER_MIDDLEWARES = {
    # Long URLs are requested and judged (a server may answer 414), never dropped silently.
    "scrapy.spidermiddlewares.urllength.UrlLengthMiddleware": None,
    # No link is followed from a page, so no depth to track and no Referer to send (a checker
    # should not tell every site which page links to it); each one wrapped every callback output.
    "scrapy.spidermiddlewares.depth.DepthMiddleware": None,
    "scrapy.spidermiddlewares.referer.RefererMiddleware": None,
    # A development aid that watches every request's meta.
    "scrapy.spidermiddlewares.metacopy.MetaCopyDetectionMiddleware": None,
}
REMOTE_CONTROL_ENABLED = False  # needs the asyncio reactor
STATS_CLASS = "crawler.run.stats.DirectStatsCollector"  # Scrapy's, without a shim per access
# Scrapy imports every extension it lists, even one set to None. The remote control is off
# (REMOTE_CONTROL_ENABLED) and importing it imports aiohttp: 173 ms at every start.
EXTENSIONS_BASE = {name: order for name, order in scrapy_defaults.EXTENSIONS_BASE.items()
                   if name != "scrapy.extensions.remote_control.RemoteControl"}
EXTENSIONS = {
    "scrapy.extensions.telnet.TelnetConsole": None,
    # What the spider, middlewares, pipeline and coordinator share (crawler/run/context.py).
    "crawler.run.context.RunContext": 0,
    "crawler.fetch.body_limit.BodyLimit": 100,
    "crawler.run.log_redaction.LogRedaction": 0,
    "crawler.run.progress.Progress": 500,
    "crawler.run.gc_tuning.GcTuning": 600,
}
ITEM_PIPELINES = {
    "crawler.run.store_pipeline.StorePipeline": 300,
}

LOG_LEVEL = "INFO"
LOGSTATS_INTERVAL = 30.0
