"""The crawl's shared state in Redis, through redis-py: queue, leases, pages, recorded.

``Frontier`` is the only module that imports ``redis``; it is loaded only when
``IMGPRINT_REDIS_URL`` is set. Calls are synchronous: Scrapy's scheduler API
(``next_request``, ``enqueue_request``) is, and one loopback round trip is
~0.1 ms. redis-py retries a lost connection for ``IMGPRINT_REDIS_RETRY``
seconds (a Redis restart); past that, ``on_lost`` is told once and every call
returns its "nothing" value, so the worker closes instead of crashing.

Settings (through ``imgprint.config.Config``): ``IMGPRINT_REDIS_URL``,
``IMGPRINT_REDIS_CRAWL``, ``IMGPRINT_REDIS_LEASE``, ``IMGPRINT_REDIS_RETRY``.
Stats: ``imgprint/redis/pushed``, ``imgprint/redis/filtered``,
``imgprint/redis/popped``, ``imgprint/redis/acked``,
``imgprint/redis/lease_lost`` (acknowledged after the lease expired),
``imgprint/redis/requeued`` (expired leases this worker put back),
``imgprint/redis/given_up`` (requests whose lease expired ``MAX_TRIES`` times),
``imgprint/redis/committed``, ``imgprint/redis/already_recorded``,
``imgprint/redis/round_trips`` (calls to Redis, each one round trip).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import redis
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from imgprint.config import Config, ConfigError
from imgprint.frontier import scripts, worker_name
from imgprint.frontier.local import FOUND_ADDED, FOUND_KNOWN, FOUND_NEW, FOUND_RECORDED  # noqa: F401

T = TypeVar("T")
# Expired leases put back per pop; an expired lease is a dead worker's, rare.
REAP_LIMIT = 100
# A request whose lease expired this often (it kills or hangs every worker that
# takes it) goes to the ``failed`` hash instead of the queue.
MAX_TRIES = 5

_POP_KEYS = ("queue", "reqs", "leases", "scores", "owner", "seedhosts", "tries", "failed",
             "popped")
_LEASE_KEYS = ("leases", "reqs", "scores", "owner", "tries")


def connect(config: Config) -> redis.Redis:
    """A client that retries a lost connection for about ``redis_retry`` seconds."""
    retry = Retry(ExponentialBackoff(cap=1.0, base=0.05), max(1, int(config.redis_retry) + 4))
    return redis.Redis.from_url(
        config.redis_url, retry=retry, socket_timeout=30, socket_connect_timeout=5,
        retry_on_error=[RedisConnectionError, RedisTimeoutError], decode_responses=False)


class Frontier:
    """One worker's handle on the shared frontier of crawl ``config.redis_crawl``."""

    def __init__(self, client: redis.Redis, config: Config, stats: Any = None):
        self.client = client
        self.name = config.redis_crawl
        self.url = config.redis_url
        self.lease_ms = int(config.redis_lease * 1000)
        self.stats = stats
        self.token = f"{worker_name()}-{uuid.uuid4().hex[:8]}"
        self.held: set[str] = set()  # lease ids this worker holds
        self.queued = 0  # queue length at the last push/pop (engine polls it)
        self.queued_pages = 0  # pages among them (the seed window)
        self.on_change: Callable[[], None] | None = None  # after queued changed
        self.queued_at = 0.0
        self.seed_host_count = 0  # seed hosts this worker knows
        self.seed_hosts_in_redis = 0  # seed hosts in Redis at the last pop
        self.on_lost: Callable[[Exception], None] | None = None
        self.lost: Exception | None = None
        self._scripts = {name: client.register_script(getattr(scripts, name))
                         for name in ("PUSH", "POP", "STATE", "ACK", "RENEW", "FOUND", "FOUND_MANY",
                                      "TAKE", "COMMIT")}

    @classmethod
    def from_config(cls, config: Config, stats: Any = None) -> Frontier:
        return cls(connect(config), config, stats)

    def key(self, name: str) -> str:
        return f"imgprint:{{{self.name}}}:{name}"

    def _run(self, script: str, keys: Iterable[str], args: Iterable[Any]) -> Any:
        return self._scripts[script](keys=[self.key(k) for k in keys], args=list(args))

    def _safe(self, call: Callable[[], T], default: T) -> T:
        if self.lost is not None:
            return default
        self._inc("round_trips")
        try:
            return call()
        except RedisError as exc:
            self.lost = exc
            if self.on_lost is not None:
                self.on_lost(exc)
            return default

    def _inc(self, key: str, n: int = 1) -> None:
        if self.stats is not None and n:
            self.stats.inc_value(f"imgprint/redis/{key}", n)

    # -- queue -------------------------------------------------------------------
    def push(self, data: bytes, fingerprint: str | None, priority: int) -> bool:
        """Queue a serialized request; False when its fingerprint was seen."""
        score = -priority * 10**13 + int(time.time() * 1000)
        sizes = self._safe(lambda: self._run(
            "PUSH", ("seen", "queue", "reqs", "scores"),
            (fingerprint or "", uuid.uuid4().hex, data, score)), None)
        if not sizes:
            self._inc("filtered")
            return False
        self._sized(*sizes)
        self._inc("pushed")
        return True

    def _sized(self, queued: int, pages: int) -> None:
        self.queued, self.queued_pages = int(queued), int(pages)
        self.queued_at = time.monotonic()
        if self.on_change is not None:
            self.on_change()

    def mark_seen(self, fingerprint: str) -> bool:
        """Add a fingerprint without queueing; False when it was seen before."""
        return bool(self._safe(lambda: self.client.sadd(self.key("seen"), fingerprint), 1))

    def pop(self, pages: bool = True) -> tuple[str, bytes] | None:
        """Lease the next request: (lease id, serialized request), or None;
        without ``pages``, the next that is not a page (priority <= 0)."""
        reply = self._safe(lambda: self._run(
            "POP", _POP_KEYS, (self.token, self.lease_ms, REAP_LIMIT, MAX_TRIES,
                               uuid.uuid4().hex, "1" if pages else "0")), None)
        if reply is None:
            self._sized(0, 0)
            return None
        lease, data, queued, requeued, failed, hosts, pages = reply
        self._sized(queued, pages)
        self.seed_hosts_in_redis = int(hosts)
        self._inc("requeued", int(requeued))
        self._inc("given_up", int(failed))
        if lease is None:
            return None
        lease = lease.decode()
        self.held.add(lease)
        self._inc("popped")
        return lease, data

    def ack(self, lease: str) -> None:
        self.held.discard(lease)
        ok = self._safe(lambda: self._run("ACK", _LEASE_KEYS, (lease, self.token)), 1)
        self._inc("acked" if ok else "lease_lost")

    def renew(self) -> int:
        """Extend every lease this worker holds; forget the ones it lost."""
        held = sorted(self.held)
        if not held:
            return 0
        renewed = self._safe(lambda: self._run(
            "RENEW", ("leases", "owner"), (self.token, self.lease_ms, *held)), None)
        if renewed is None:
            return 0
        kept = {r.decode() for r in renewed}
        lost = set(held) - kept
        self.held -= lost
        self._inc("lease_lost", len(lost))
        return len(kept)

    def state(self) -> tuple[int, int]:
        """(requests queued, leases out), after putting expired leases back."""
        reply = self._safe(lambda: self._run(
            "STATE", _POP_KEYS, ("", 0, REAP_LIMIT, MAX_TRIES)), None)
        if reply is None:
            return 0, 0
        queued, leased, requeued, failed = (int(x) for x in reply)
        self._sized(queued, self.queued_pages if queued else 0)
        self._inc("requeued", requeued)
        self._inc("given_up", failed)
        return queued, leased

    def queue_length(self) -> int:
        return int(self._safe(lambda: self.client.zcard(self.key("queue")), 0))

    # -- images and pages --------------------------------------------------------
    def found(self, url: str, page: str) -> int:
        """Page ``page`` references image ``url``: one of the FOUND_* values."""
        return int(self._safe(lambda: self._run(
            "FOUND", ("recorded", f"pages:{url}"), (url, page)), FOUND_KNOWN))

    def found_many(self, urls: list[str], page: str) -> list[int]:
        """``found`` for every image of one page, in one round trip."""
        if not urls:
            return []
        codes = self._safe(lambda: self._run(
            "FOUND_MANY", ("recorded", *(f"pages:{u}" for u in urls)), (page, *urls)), None)
        return [int(c) for c in codes] if codes is not None else [FOUND_KNOWN] * len(urls)

    def take(self, url: str) -> list[str] | None:
        """The pages of ``url`` so far, or None when it is recorded already."""
        pages = self._safe(lambda: self._run("TAKE", ("recorded", f"pages:{url}"), (url,)),
                           None)
        if pages is None:
            self._inc("already_recorded")
            return None
        return [p.decode() for p in pages]

    def commit(self, url: str, taken: int, lease: str) -> list[str]:
        """``url``'s record is written: mark it recorded, release ``lease``, and
        return the pages that found it after its pages were taken."""
        self.held.discard(lease)
        keys = (*_LEASE_KEYS, "recorded", f"pages:{url}", "records")
        reply = self._safe(lambda: self._run("COMMIT", keys, (lease, self.token, url, taken)),
                           None)
        if reply is None:
            return []
        self._inc("committed")
        return [p.decode() for p in reply[1]]

    # -- seeds and the crawl as a whole ------------------------------------------
    def add_seed_hosts(self, hosts: Iterable[str]) -> None:
        hosts = [h for h in hosts if h]
        if hosts:
            self._safe(lambda: self.client.sadd(self.key("seedhosts"), *hosts), 0)

    def seed_hosts(self) -> set[str]:
        empty: set[bytes | str] = set()
        members = self._safe(lambda: set(self.client.smembers(self.key("seedhosts"))), empty)
        self.seed_host_count = len(members)
        return {m.decode() if isinstance(m, bytes) else m for m in members}

    def finish(self) -> None:
        """Mark the crawl finished: a later ``scrapy crawl`` on it refuses to start."""
        def mark() -> None:
            records = int(self.client.get(self.key("records")) or 0)
            info = {"finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "records": records, "by": self.token}
            self.client.set(self.key("done"), json.dumps(info), nx=True)
        self._safe(mark, None)

    def done_info(self) -> dict[str, Any] | None:
        raw = self.client.get(self.key("done"))
        return json.loads(raw) if raw else None


def check_frontier(config: Config) -> None:
    """Raise ConfigError when the frontier cannot be used: Redis not answering,
    or the crawl named ``IMGPRINT_REDIS_CRAWL`` finished already."""
    frontier = Frontier(_quick_client(config), config)
    try:
        frontier.client.ping()
        info = frontier.done_info()
    except RedisError as exc:
        raise ConfigError(f"IMGPRINT_REDIS_URL: Redis at {_safe_url(config.redis_url)}"
                          f" does not answer: {exc}") from None
    finally:
        frontier.client.close()
    if info is not None:
        raise ConfigError(
            f"IMGPRINT_REDIS_CRAWL: crawl {config.redis_crawl!r} on"
            f" {_safe_url(config.redis_url)} is finished ({info.get('records')} images"
            f" recorded, {info.get('finished_at')}): nothing left to crawl. Start a new"
            f" crawl with -s IMGPRINT_REDIS_CRAWL=<new name> (docs/scaling.md)")


def _quick_client(config: Config) -> redis.Redis:
    # Preflight: one try, a short timeout; a worker's client retries for longer.
    return redis.Redis.from_url(config.redis_url, socket_timeout=5,
                                socket_connect_timeout=5, retry=Retry(ExponentialBackoff(), 0))


def _safe_url(url: str) -> str:
    from imgprint.preflight import redacted
    return redacted(url)
