"""Reading a site a batch of documents at a time, off the reactor thread.

The spider asks for the next batch from a worker thread (``next_batch`` blocks).
Small sites are read in that thread. Once a site proves large (more than
``LINKHEALTH_READ_PROCESS_AFTER`` documents parsed), parsing moves to one worker
process, two batches ahead of the crawl: parsing YAML is pure-Python CPU work
that otherwise shares the crawl's GIL (reading was 15% of a checking crawl's
CPU in ``bench.check_bench --profile``). The process is started with ``spawn``
(no fork of a process that runs threads and a reactor).

With ``known`` set (``crawler.site.unchanged_documents``), the thread first looks up
each batch's files: those whose bytes are the ones recorded come back as an
``UnchangedDocument`` and are not parsed, so a run of an unchanged site parses
nothing and never starts the process.

Nothing is lost if the process dies: the paths of every batch in flight are
kept, and a batch whose process failed is read again in the thread, as is
everything after it (with one warning). If the crawl dies instead (SIGKILL),
the reader notices within a second that its parent is gone and exits.

A reader that is stuck (a hung file system, a reader process that stopped
answering) never keeps the crawl from stopping: each batch is read in a daemon
thread of its own (``in_daemon_thread``), which nothing waits for at exit, unlike
the reactor's thread pool that Twisted joins when it stops; and ``close`` kills a
reader process that still has work in flight.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import multiprocessing
import os
import signal
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from crawler.site.sources import (
    DEFAULT_LIMITS,
    Document,
    ReadLimits,
    iter_document_paths,
    read_document,
)
from crawler.site.unchanged_documents import KnownDocuments, UnchangedDocument

logger = logging.getLogger(__name__)

BATCHES_AHEAD = 2


def _exit_with_parent(parent: int) -> None:
    """In the reader process: a daemon thread that ends the process once the crawl is gone
    (a crawl killed with SIGKILL never shuts its pool down)."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()


def in_daemon_thread(function: Callable[[], Any]) -> Any:
    """``function()`` in a new daemon thread; a Deferred that fires with its result in the
    reactor thread (a thread per batch of documents costs nothing next to reading them).
    Twisted is imported here, not by the module: the reader process imports this module."""
    from twisted.internet import reactor
    from twisted.internet.defer import Deferred
    from twisted.internet.interfaces import IReactorFromThreads
    from twisted.python.failure import Failure

    deferred: Deferred = Deferred()
    call_from_thread = IReactorFromThreads(reactor).callFromThread  # adapted, as Twisted advises

    def deliver(outcome: Any) -> None:
        if deferred.called:  # cancelled: the crawl closed while the batch was read
            return
        if isinstance(outcome, Failure):
            deferred.errback(outcome)
        else:
            deferred.callback(outcome)

    def work() -> None:
        try:
            outcome: Any = function()
        except BaseException:  # noqa: BLE001 - handed to the reactor thread as a Failure
            outcome = Failure()
        call_from_thread(deliver, outcome)

    threading.Thread(target=work, name="site-reader", daemon=True).start()
    return deferred


def read_documents(paths: list[Path], root: Path, body_links: bool,
                   key: bytes | None = None, limits: ReadLimits = DEFAULT_LIMITS
                   ) -> list[Document | None]:
    """One batch (in the worker process, or inline)."""
    return [read_document(path, root, body_links, key, limits) for path in paths]


Read = Document | UnchangedDocument | None
Plan = list[Path | UnchangedDocument]  # a batch: what to parse, and what is known unchanged


class SiteReader:
    def __init__(self, root: Path, *, body_links: bool, batch: int, process_after: int,
                 key: bytes | None = None, limits: ReadLimits = DEFAULT_LIMITS):
        self.root = root
        self.limits = limits
        self.body_links = body_links
        self.batch = max(1, batch)
        self.process_after = process_after  # documents parsed inline first; 0: never a process
        self.key = key  # documents carry their digest (crawler.site.unchanged_documents)
        self.known: KnownDocuments | None = None  # set to skip the unchanged documents
        self.paths: Iterator[Path] = iter_document_paths(root, limits.follow_symlinks)
        self.read_inline = 0
        self.pool: ProcessPoolExecutor | None = None
        self.failed = False
        self.closed = False
        self.exhausted = False  # the last batch was read: the process, if any, is idle
        self.pending: deque[tuple[list[Path], Plan, Future[list[Document | None]]]] = deque()
        # Held while a submit may start the worker process: the pool only lists a process
        # once it has started, and close() must see (and kill) every process there is.
        self.spawning = threading.Lock()

    @property
    def in_process(self) -> bool:
        return self.pool is not None

    def next_batch(self) -> list[Read]:
        """The next documents in site order ([] at the end). Blocks: call it from a thread."""
        batch = [] if self.closed else self._next_batch()
        self.exhausted = self.exhausted or not batch
        return batch

    def _next_batch(self) -> list[Read]:
        if self._wants_process():
            self._start_process()
        if self.pool is None:
            paths = list(itertools.islice(self.paths, self.batch))
            plan = self._plan(paths)
            return _merge(plan, self._inline(_to_parse(plan)))
        self._fill()
        if not self.pending:
            return []
        paths, plan, future = self.pending.popleft()
        try:
            parsed = future.result()
        except BrokenProcessPool as exc:
            if self.closed:  # killed by close(): the crawl is over
                return []
            self._process_failed(exc)
            self.paths = itertools.chain(paths, self.paths)
            return self._next_batch()
        return _merge(plan, parsed)

    def close(self) -> None:
        """Stop the worker process (batches still in flight are dropped). May be called from
        another thread while ``next_batch`` waits: it then returns [] at once."""
        self.closed = True
        with self.spawning:
            pool, self.pool = self.pool, None
        if pool is not None:
            if not self.exhausted:  # work may be in flight, and never answered: at exit,
                _kill_workers(pool)  # Python would wait for it
            pool.shutdown(wait=False, cancel_futures=True)
        if self.known is not None:
            self.known.close()
            self.known = None

    def _plan(self, paths: list[Path]) -> Plan:
        known = self.known
        if known is None or not paths:
            return list(paths)
        try:
            return known.sort(paths, self.root)
        except sqlite3.Error as exc:  # the database went away (or the crawl is closing)
            logger.warning("Parsing every document from here: cannot read the recorded ones (%s)",
                           exc)
            self.known = None
            known.close()
            return list(paths)

    def _wants_process(self) -> bool:
        return (self.pool is None and not self.failed and self.process_after > 0
                and self.read_inline >= self.process_after)

    def _start_process(self) -> None:
        try:
            self.pool = ProcessPoolExecutor(max_workers=1,
                                            mp_context=multiprocessing.get_context("spawn"),
                                            initializer=_exit_with_parent,
                                            initargs=(os.getpid(),))
        except OSError as exc:
            self.failed = True
            logger.warning("Reading the site in this process: cannot start a reader process (%s)", exc)
            return
        logger.info("Reading the rest of the site in a worker process (%d documents read so far)",
                    self.read_inline)

    def _fill(self) -> None:
        while self.pool is not None and len(self.pending) < BATCHES_AHEAD:
            paths = list(itertools.islice(self.paths, self.batch))
            if not paths:
                return
            plan = self._plan(paths)
            to_parse = _to_parse(plan)
            if not to_parse:
                self.pending.append((paths, plan, _done_future([])))
                continue
            try:
                with self.spawning:
                    if self.closed or self.pool is None:  # closed meanwhile (perhaps before
                        return  # the pool was made): start no process that close() missed
                    future = self.pool.submit(read_documents, to_parse, self.root,
                                              self.body_links, self.key, self.limits)
            except (BrokenProcessPool, RuntimeError) as exc:
                self.pending.append((paths, plan, _done_future(BrokenProcessPool(str(exc)))))
                return
            self.pending.append((paths, plan, future))

    def _inline(self, paths: list[Path]) -> list[Document | None]:
        self.read_inline += len(paths)
        return read_documents(paths, self.root, self.body_links, self.key, self.limits)

    def _process_failed(self, exc: BaseException) -> None:
        """Read the batches in flight, and everything after, in the thread."""
        logger.warning("The reader process failed (%s); reading the rest of the site in this "
                       "process", exc)
        self.failed = True
        lost = [paths for paths, _, _ in self.pending]
        self.pending.clear()
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = None
        self.paths = itertools.chain.from_iterable([*lost, self.paths])


def _kill_workers(pool: ProcessPoolExecutor) -> None:
    """SIGKILL the pool's worker processes (its own children, by pid): at exit, Python joins
    a process pool's workers, and a stopped or stuck one would hold the crawl forever."""
    for pid in list(getattr(pool, "_processes", None) or {}):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _to_parse(plan: Plan) -> list[Path]:
    return [entry for entry in plan if isinstance(entry, Path)]


def _merge(plan: Plan, parsed: list[Document | None]) -> list[Read]:
    """The plan's entries in order, each path replaced by its parsed document."""
    if len(parsed) == len(plan):
        return list(parsed)  # nothing was known unchanged
    documents = iter(parsed)
    return [entry if isinstance(entry, UnchangedDocument) else next(documents) for entry in plan]


def _done_future(result: list[Document | None] | BaseException) -> Future[list[Document | None]]:
    future: Future[list[Document | None]] = Future()
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)
    return future
