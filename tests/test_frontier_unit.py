"""The shared frontier's parts: settings, and the Redis scripts against a real
``redis-server`` (leases, commits, the image -> pages lists)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from imgprint.config import Config, ConfigError
from imgprint.frontier import worker_feed
from imgprint.settings import __dict__ as project_settings
from tests.conftest import PROJECT

DEFAULTS = {k: v for k, v in project_settings.items() if k.isupper()}


def config(**settings: object) -> Config:
    return Config.from_settings({**DEFAULTS, **settings})


@pytest.mark.parametrize("url", ["", "redis://127.0.0.1:6379/0", "rediss://h:1/2",
                                 "redis://:secret@cache.example:6380", "unix:///run/r.sock"])
def test_redis_url_accepted(url):
    assert config(IMGPRINT_REDIS_URL=url).redis_url == url


@pytest.mark.parametrize("name, value, message", [
    ("IMGPRINT_REDIS_URL", "http://127.0.0.1:6379", "expected redis://"),
    ("IMGPRINT_REDIS_URL", "redis://", "expected redis://"),
    ("IMGPRINT_REDIS_URL", "redis://h:99999/0", "bad port"),
    ("IMGPRINT_REDIS_CRAWL", "a b", "letters, digits"),
    ("IMGPRINT_REDIS_CRAWL", "", "letters, digits"),
    ("IMGPRINT_REDIS_LEASE", "0.5", "at least 1 second"),
    ("IMGPRINT_REDIS_RETRY", "-1", "at least 0"),
])
def test_bad_redis_settings_named(name, value, message):
    with pytest.raises(ConfigError, match=f"{name}: .*{message}"):
        config(**{name: value})


def test_worker_feeds_differ_by_process():
    feed = worker_feed("output/images-%(time)s.jsonl")
    assert feed.startswith("output/images-%(time)s-") and feed.endswith(".jsonl")
    assert feed != "output/images-%(time)s.jsonl"


def test_single_process_never_imports_redis():
    code = ("import sys; from scrapy.utils.test import get_crawler;"
            " from imgprint.spiders.images import ImagesSpider;"
            " import imgprint.commands.crawl, imgprint.scheduler;"
            " print('redis' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.fixture
def frontier(tmp_path):
    from imgprint.frontier.store import Frontier
    from tests.services import redis_server

    server = redis_server(tmp_path)
    yield lambda **s: Frontier.from_config(config(
        IMGPRINT_REDIS_URL=f"redis://127.0.0.1:{server.port}/0", **s))
    server.stop()


@pytest.mark.crawl
def test_expired_lease_goes_back_and_old_owner_cannot_ack(frontier):
    a, b = frontier(IMGPRINT_REDIS_LEASE=1), frontier(IMGPRINT_REDIS_LEASE=1)
    assert a.push(b"page", "fp1", 1) and not b.push(b"page", "fp1", 1)
    lease, data = a.pop()
    assert data == b"page" and b.pop() is None and b.state() == (0, 1)
    time.sleep(1.2)
    assert b.state() == (1, 0)  # requeued: a died, or hung past its lease
    lease_b, data_b = b.pop()
    assert (lease_b, data_b) == (lease, b"page")
    assert a.renew() == 0 and not a.held  # a learns it lost the lease
    a.ack(lease)
    assert b.state() == (0, 1)  # a's late ack did not release b's lease
    b.ack(lease_b)
    assert b.state() == (0, 0)


@pytest.mark.crawl
def test_priority_first_then_fifo(frontier):
    f = frontier()
    for i, prio in enumerate([0, 0, 1, 0]):
        f.push(f"r{i}".encode(), None, prio)
        time.sleep(0.002)
    assert [f.pop()[1] for _ in range(4)] == [b"r2", b"r0", b"r1", b"r3"]


@pytest.mark.crawl
def test_pages_and_commit(frontier):
    from imgprint.frontier.store import FOUND_ADDED, FOUND_KNOWN, FOUND_NEW, FOUND_RECORDED

    a, b = frontier(), frontier()
    assert a.found("img", "p1") == FOUND_NEW
    assert b.found("img", "p2") == FOUND_ADDED and b.found("img", "p2") == FOUND_KNOWN
    # The first page parsed again (its worker died): request it again.
    assert b.found("img", "p1") == FOUND_NEW
    a.push(b"image", "fp", 0)
    lease, _ = b.pop()
    taken = b.take("img")
    assert taken == ["p1", "p2"]
    assert a.found("img", "p3") == FOUND_ADDED  # after the take, before the commit
    assert b.commit("img", len(taken), lease) == ["p3"]
    assert a.found("img", "p4") == FOUND_RECORDED and a.take("img") is None
    assert b.state() == (0, 0)


@pytest.mark.crawl
def test_repeated_pop_call_gets_the_same_lease(frontier):
    from imgprint.frontier.store import _POP_KEYS, MAX_TRIES, REAP_LIMIT

    f = frontier()
    f.push(b"one", None, 0)
    f.push(b"two", None, 0)
    args = (f.token, f.lease_ms, REAP_LIMIT, MAX_TRIES, "nonce1")
    first = f._run("POP", _POP_KEYS, args)
    again = f._run("POP", _POP_KEYS, args)  # as redis-py's retry sends it
    assert first[0] == again[0] and first[1] == b"one"
    assert f.state() == (1, 1)


@pytest.mark.crawl
def test_found_many_is_found_for_each(frontier):
    a, b = frontier(), frontier()
    calls = [("i1", "p1"), ("i1", "p2"), ("i1", "p2"), ("i1", "p1"), ("i2", "p2")]
    one_by_one = [a.found(f"a-{url}", page) for url, page in calls]
    batched = [b.found_many([f"b-{url}"], page)[0] for url, page in calls]
    assert one_by_one == batched == [1, 0, 3, 1, 1]
    lease = (b.push(b"x", None, 0), b.pop())[1][0]
    b.commit("b-i1", 2, lease)
    assert b.found_many(["b-i1", "b-i2", "b-i3"], "p9") == [2, 0, 1]
    assert b.found_many([], "p9") == []
