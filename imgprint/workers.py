"""The CPU work of images, off the event loop: worker processes, or threads.

Format walks, EXIF extraction, hashing and decoding run here (the pipeline
hands over plain data: a ``Spans`` and ints, and gets dicts back), so a slow
file delays its own record, not every download. ``workers_for(config)`` picks:

* ``IMGPRINT_PROCESSES`` of 0 (one per CPU core, the default) or more than 1:
  ``ProcessWorkers``, up to that many worker processes, started as the work
  needs them; the crawl's own process keeps the event loop, the frontier,
  the guard, Tor routing and JOBDIR;
* 1: ``Workers``, ``IMGPRINT_PHASH_WORKERS`` threads in the crawl's own
  process, as before (one core: the threads share the interpreter's lock).

``run(timeout, fn, *args)`` gives a job up after ``timeout`` seconds (its own
running time: a job waiting for a free worker is not charged). An overrunning
process is killed and replaced; a thread cannot be killed, so the thread pool
is replaced instead and the abandoned thread finishes on its own (the parsers
and decoders are bounded). A worker process that dies mid-job (a crash in a
decoder, the OOM killer) raises ``WorkerLost``, a ``TimeoutError``: either way
the job's own fields are lost, never the record or the crawl.

Worker processes (``imgprint.workerproc``) ignore Ctrl-C, so the crawl's
graceful stop still gets its jobs done, and die with the crawl, also after
kill -9. Jobs waiting for a worker hold only their arguments (a ``Spans``
pickles without its parsers' memo), so memory is bounded by the jobs Scrapy
has in flight, as with threads.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pickle
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, TypeVar

from imgprint.workerproc import Job, WorkerLost, WorkerProcess, reap

if TYPE_CHECKING:
    from imgprint.config import Config

__all__ = ["ProcessWorkers", "WorkerLost", "Workers", "cores", "workers_for"]

T = TypeVar("T")
log = logging.getLogger(__name__)


def cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class Workers:
    """A bounded pool of threads in this process (``IMGPRINT_PROCESSES = 1``)."""

    def __init__(self, threads: int, name: str = "imgprint-worker"):
        self.threads = threads
        self.name = name
        self.replaced = 0  # pools given up because a job overran
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix=name)

    async def run(self, timeout: float, fn: Callable[..., T], *args: object) -> T:
        """``fn(*args)`` on a worker; ``TimeoutError`` after ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        pool = self._pool
        future = loop.run_in_executor(pool, fn, *args)
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            if pool is self._pool:
                self.replaced += 1
                pool.shutdown(wait=False)
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix=self.name)
            raise

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class ProcessWorkers:
    """Up to ``processes`` worker processes, each with up to ``DEPTH`` jobs sent.

    Jobs go to the ready worker with the fewest; a worker answers them in
    order, so the next one is already there when it finishes one (the event
    loop reads answers only between other work: one job at a time left the
    workers idle and halved the crawl's rate). One worker starts soon after
    the pool and imports while the crawl starts; another starts only when the jobs
    waiting, every worker full, have not become fewer in ``SPAWN_AFTER``
    seconds: a crawl whose event loop cannot feed more workers does not pay
    memory for them.
    """

    #: Jobs sent to one worker and not yet answered.
    DEPTH = 32
    #: Seconds over which a backlog (every worker full) must not shrink before
    #: another worker starts.
    SPAWN_AFTER = 1.0
    #: Seconds after the pool is made that its first worker starts: after the
    #: crawl's first requests (its imports would slow them on a busy machine),
    #: before the first answers need it.
    PRESTART_AFTER = 0.3

    def __init__(self, processes: int, fallback_threads: int = 2, prestart: bool = True):
        self.processes = processes
        self.fallback_threads = fallback_threads
        self.replaced = 0  # workers killed because a job overran
        self.lost = 0  # workers that died mid-job
        self.started = 0
        self._workers: list[WorkerProcess] = []
        self._queue: deque[Job] = deque()
        self._closed = False
        self._threads: Workers | None = None  # when worker processes cannot start
        self._backlog: tuple[float, int] | None = None  # (since, jobs waiting then)
        if prestart:  # it imports its modules while the crawl starts
            try:
                asyncio.get_running_loop().call_later(self.PRESTART_AFTER, self._prestart)
            except RuntimeError:  # no event loop yet: the first job starts one
                pass

    def _prestart(self) -> None:
        if not self._workers and not self._closed and self._threads is None:
            self._spawn()

    def _spawn(self) -> None:
        self.started += 1
        self._workers.append(WorkerProcess(self))

    async def run(self, timeout: float, fn: Callable[..., T], *args: object) -> T:
        """``fn(*args)`` in a worker process; ``TimeoutError`` after ``timeout``
        seconds of its own running time, ``WorkerLost`` if the worker died."""
        if self._threads is not None:
            return await self._threads.run(timeout, fn, *args)
        if self._closed:
            raise RuntimeError("the worker processes are closed")
        data = pickle.dumps((fn, args), pickle.HIGHEST_PROTOCOL)  # raises here if it cannot
        job = Job(fn, args, timeout, asyncio.get_running_loop().create_future(), data)
        self._queue.append(job)
        self.dispatch()
        ok, value = await job.future
        if not ok:
            raise value
        result: T = value
        return result

    def dispatch(self) -> None:
        """Send waiting jobs to workers with room; start a worker if all are full."""
        while self._queue:
            job = self._queue[0]
            if job.future.done():  # cancelled while it waited
                self._queue.popleft()
                continue
            ready = [w for w in self._workers if w.ready and len(w.sent) < self.DEPTH]
            if not ready:
                self._grow()
                return
            self._queue.popleft()
            min(ready, key=lambda w: len(w.sent)).send(job)
        self._backlog = None

    def _grow(self) -> None:
        """Jobs wait and every worker is full: start another worker if the
        backlog has not shrunk in ``SPAWN_AFTER`` seconds (a burst that the
        workers drain, as at start-up, starts none)."""
        for worker in self._workers:
            worker.connect()
        if self._closed or len(self._workers) >= self.processes:
            return
        if any(not w.ready for w in self._workers):
            return  # one is starting: its share of the backlog is not known yet
        now = asyncio.get_running_loop().time()
        if not self._workers:
            self._spawn()
        elif self._backlog is None:
            self._backlog = (now, len(self._queue))
        elif now - self._backlog[0] >= self.SPAWN_AFTER:
            if len(self._queue) >= self._backlog[1]:
                self._spawn()
            self._backlog = None
        else:
            return
        if self._workers:
            self._workers[-1].connect()

    def became_ready(self) -> None:
        """A worker is ready: a backlog is measured from now on."""
        self._backlog = None
        self.dispatch()

    def remove(self, worker: WorkerProcess, error: BaseException, started: bool = True) -> None:
        """A worker overran or died: its first job fails with ``error``, the
        jobs behind it wait for another worker."""
        if worker in self._workers:
            self._workers.remove(worker)
        jobs = worker.stop(kill=True)
        if self._closed:
            return
        if isinstance(error, WorkerLost) and jobs:
            self.lost += 1
        if jobs and not jobs[0].future.done():
            jobs[0].future.set_exception(error)
        self._queue.extendleft(reversed(jobs[1:]))
        if not started:
            self._fall_back(error)
        self.dispatch()

    def _fall_back(self, error: BaseException) -> None:
        """Worker processes cannot start here: run the jobs on threads."""
        log.error("Worker processes cannot start (%s): the image work runs on %d threads"
                  " in the crawl's process", error, self.fallback_threads)
        self._threads = Workers(self.fallback_threads)
        jobs, self._queue = list(self._queue), deque()
        for job in jobs:
            if not job.future.done():
                asyncio.ensure_future(self._on_threads(job))

    async def _on_threads(self, job: Job) -> None:
        assert self._threads is not None
        try:
            answer = (True, await self._threads.run(job.timeout, job.fn, *job.args))
        except Exception as exc:  # noqa: BLE001 - handed to the job's caller
            answer = (False, exc)
        if not job.future.done():
            job.future.set_result(answer)

    def close(self) -> None:
        """Stop every worker (they exit at the closed socket) and wait for them."""
        self._closed = True
        log.info("Image work: %d worker processes started, %d stopped for overrunning,"
                 " %d died mid-job", self.started, self.replaced, self.lost)
        workers, self._workers = self._workers, []
        for worker in workers:
            for job in worker.stop(kill=bool(worker.sent) or not worker.ready):
                job.future.cancel()
        for worker in workers:
            reap(worker.proc)
        for job in self._queue:
            job.future.cancel()
        self._queue.clear()
        if self._threads is not None:
            self._threads.close()


def workers_for(config: Config) -> Workers | ProcessWorkers:
    """The pool ``IMGPRINT_PROCESSES`` (and ``IMGPRINT_PHASH_WORKERS``) ask for;
    its size goes to the log once."""
    processes = config.processes or cores()
    if processes == 1:
        log.info("Image work: %d threads in the crawl's process (IMGPRINT_PROCESSES = 1)",
                 config.phash_workers)
        return Workers(config.phash_workers)
    how = "one per CPU core" if not config.processes else "IMGPRINT_PROCESSES"
    log.info("Image work: up to %d worker processes (%s)", processes, how)
    return ProcessWorkers(processes, config.phash_workers)
