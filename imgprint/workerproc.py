"""One worker process of ``imgprint.workers``: the crawl's end, and the process.

``WorkerProcess`` starts ``python -m imgprint.workerproc`` (a fresh
interpreter: no fork of the crawl's threads or reactor) with one end of a
socket pair, sends it jobs (``(fn, args)``, pickled, length-prefixed) and
hands each answer to its job as the bytes arrive; the worker answers in order.
The time limit of the job at the head runs from when the previous answer came
(or from when it was sent to an idle worker). ``main`` is the worker itself: it
imports ``PRELOAD`` (so no job's time limit counts imports), greets, then runs
jobs until the socket ends.

Signals: the worker starts with SIGINT and SIGTERM blocked and then ignores
them, so a Ctrl-C (which a terminal sends to the whole process group) stops
only the crawl, gracefully, and the jobs in flight still finish. It exits when
the crawl closes its socket, and on Linux the kernel kills it when the crawl
process dies (``PR_SET_PDEATHSIG``): kill -9 of the crawl leaves no worker.
"""

from __future__ import annotations

import asyncio
import os
import pickle
import signal
import socket
import struct
import subprocess
import sys
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

T = TypeVar("T")

#: Modules a worker process imports before it takes a job: the pipeline's jobs
#: and the perceptual hash's decoders (numpy, Pillow).
PRELOAD = ("imgprint.pipelines", "imgprint.fingerprint.phash")
#: Seconds a new worker process may take to import them (a loaded machine).
START_LIMIT = 120.0
_HEADER = struct.Struct("!I")
_READY = b"R"


class WorkerLost(TimeoutError):
    """A worker process died before it answered: the job's result is lost."""


class Pool(Protocol):
    """What a worker tells its pool (``imgprint.workers.ProcessWorkers``)."""

    replaced: int

    def became_ready(self) -> None: ...

    def dispatch(self) -> None: ...

    def remove(self, worker: WorkerProcess, error: BaseException,
               started: bool = True) -> None: ...


@dataclass(eq=False)
class Job:
    fn: Callable[..., Any]
    args: tuple
    timeout: float
    future: asyncio.Future[tuple[bool, Any]]
    data: bytes  # (fn, args), pickled


class WorkerProcess(asyncio.Protocol):
    """One worker process, the crawl's end of its socket, and the jobs sent to
    it, which it answers in order. Answers are handled as their bytes arrive
    (a protocol, not a stream reader task: one pass of the event loop less
    per job)."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.sent: deque[Job] = deque()
        self.ready = False
        self.gone = False
        self._connecting = False
        self._timer: asyncio.TimerHandle | None = None
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        ours, theirs = socket.socketpair()
        # The child starts with SIGINT/SIGTERM blocked (a signal mask survives
        # exec) and ignores them before unblocking: a Ctrl-C at any moment
        # reaches only the crawl, which stops gracefully.
        old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        try:
            root = str(Path(__file__).resolve().parents[1])  # this imgprint, not another
            path = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "imgprint.workerproc", str(theirs.fileno()),
                 str(os.getpid())],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONPATH": path})
        except BaseException:
            ours.close()
            raise
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)
            theirs.close()
        self.sock = ours

    def connect(self) -> None:
        """Start reading its socket (it needs the running event loop)."""
        if self._connecting or self.gone:
            return
        self._connecting = True
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(START_LIMIT, self._died, "did not start in time")
        connecting = asyncio.ensure_future(loop.connect_accepted_socket(lambda: self, self.sock))
        connecting.add_done_callback(self._connected)

    def _connected(self, connecting: asyncio.Future[Any]) -> None:
        if not connecting.cancelled() and connecting.exception() is not None:
            self._died(f"could not be read ({connecting.exception()!r})")

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        if not self.ready:
            if buffer[:1] != _READY:
                self._died("sent no greeting")
                return
            del buffer[:1]
            self.ready = True
            self._cancel_timer()
            self.pool.became_ready()
        while len(buffer) >= _HEADER.size and not self.gone:
            (size,) = _HEADER.unpack_from(buffer)
            if len(buffer) < _HEADER.size + size:
                return
            answer = _loads(bytes(buffer[_HEADER.size:_HEADER.size + size]))
            del buffer[:_HEADER.size + size]
            self._answered(answer)
        if not self.gone:
            self.pool.dispatch()

    def _answered(self, answer: tuple[bool, Any]) -> None:
        job = self.sent.popleft()
        self._cancel_timer()
        if self.sent:
            self._arm(self.sent[0])
        if not job.future.done():
            job.future.set_result(answer)

    def connection_lost(self, exc: Exception | None) -> None:
        self._died(f"closed its socket ({exc!r})")

    def _died(self, how: str) -> None:
        if not self.gone:
            started = "" if self.ready else " before it was ready"
            self.pool.remove(self, WorkerLost(
                f"worker process {self.proc.pid} {how}{started}"
                f" (exit status {self.proc.poll()})"), started=self.ready)

    def send(self, job: Job) -> None:
        assert self._transport is not None
        self._transport.write(_HEADER.pack(len(job.data)) + job.data)
        self.sent.append(job)
        if len(self.sent) == 1:
            self._arm(job)

    def _arm(self, job: Job) -> None:
        """The job at the head runs now: its time limit starts."""
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(job.timeout, self._overrun, job)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _overrun(self, job: Job) -> None:
        if not self.gone and self.sent and self.sent[0] is job:
            self.pool.replaced += 1
            self.pool.remove(self, TimeoutError(f"took more than {job.timeout:g} s"))

    def stop(self, kill: bool) -> list[Job]:
        """End it (at once when ``kill``: it overran or broke) and return the
        jobs it had not answered."""
        self.gone = True
        self._cancel_timer()
        try:  # now, not when the event loop closes the transport: the worker sees the end
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        if self._transport is not None:
            self._transport.abort()
        else:
            self.sock.close()
        if kill:
            if self.proc.poll() is None:
                self.proc.kill()
            reap(self.proc)
        jobs, self.sent = list(self.sent), deque()
        return jobs


def _loads(data: bytes) -> tuple[bool, Any]:
    """A worker's answer; one that cannot be unpickled here is an error of its job."""
    try:
        answer: tuple[bool, Any] = pickle.loads(data)
    except Exception as exc:  # noqa: BLE001 - e.g. an exception class this side lacks
        return False, RuntimeError(f"answer of a worker process not readable: {exc!r}")
    return answer


def reap(proc: subprocess.Popen, wait: float = 5.0) -> None:
    """Collect the exit status of a worker that was told to stop (no zombie)."""
    try:
        proc.wait(wait)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# -- the worker process ------------------------------------------------------------
def _die_with_parent(parent: int) -> None:
    """Have the kernel kill this process when the crawl's dies (Linux)."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent:  # it died before the line above
        os._exit(0)


def _import(load: Callable[[], T]) -> T:
    """``load()`` (an import, an unpickling) without Scrapy if it can: the jobs
    never need it, and its import (Twisted with it) costs a worker ~35 MB of
    its ~87 (itemadapter, which ``imgprint.items`` uses, imports it when it can,
    and runs without it). Whatever does need it gets it."""
    if "scrapy" not in sys.modules:
        sys.modules["scrapy"] = None  # type: ignore[assignment]  # import scrapy fails
    try:
        return load()
    except ImportError:
        if sys.modules.get("scrapy", True) is not None:
            raise
        del sys.modules["scrapy"]
        return load()


def _serve(sock: socket.socket) -> None:
    stream = sock.makefile("rwb")
    stream.write(_READY)
    stream.flush()
    while True:
        header = stream.read(_HEADER.size)
        if len(header) < _HEADER.size:
            return  # the crawl closed the socket (or died)
        (size,) = _HEADER.unpack(header)
        data = stream.read(size)
        try:
            fn, args = _import(lambda: pickle.loads(data))  # noqa: B023 - called here
            answer = (True, fn(*args))
        except Exception as exc:  # noqa: BLE001 - raised again in the crawl
            answer = (False, exc)
        try:
            data = pickle.dumps(answer, pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # noqa: BLE001 - an unpicklable result or error
            data = pickle.dumps((False, RuntimeError(f"{type(exc).__name__}: {exc}")))
        stream.write(_HEADER.pack(len(data)) + data)
        stream.flush()


def main(argv: list[str]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    fd, parent = int(argv[0]), int(argv[1])
    _die_with_parent(parent)
    import logging

    # The jobs' warnings, on the crawl's stderr (their DEBUG lines are not kept).
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s [%(name)s] %(levelname)s:"
                        " %(message)s (image worker process)")
    import importlib

    for name in PRELOAD:
        _import(lambda: importlib.import_module(name))  # noqa: B023 - called here
    try:
        _serve(socket.socket(fileno=fd))
    except (BrokenPipeError, ConnectionResetError):
        pass  # the crawl went away
    os._exit(0)  # nothing to flush: skip the interpreter's teardown


if __name__ == "__main__":
    main(sys.argv[1:])
