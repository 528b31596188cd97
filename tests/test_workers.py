"""Work off the event loop (imgprint.workers): worker threads, and worker
processes (the default). A job that overruns or kills its worker costs its own
result, not the next jobs; the processes go away with the crawl, also after
kill -9 and Ctrl-C. The crawl tests at the end run real crawls."""

from __future__ import annotations

import asyncio
import json
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from imgprint.config import Config, ConfigError
from imgprint.fingerprint.limits import Limits
from imgprint.pipelines import fingerprint_fields, perceptual_fields
from imgprint.workers import ProcessWorkers, WorkerLost, Workers, cores, workers_for
from tests.conftest import PROJECT
from tests.helpers import EX, crawled, project_crawler


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def worker_pids(parent: int) -> list[int]:
    """Worker processes (``python -m imgprint.workerproc``) whose parent is ``parent``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().split(b"\0")
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and b"imgprint.workerproc" in cmd:
            found.append(int(entry.name))
    return found


# -- threads (IMGPRINT_PROCESSES = 1) ------------------------------------------------------
def test_results_and_errors_come_back():
    async def main():
        workers = Workers(2)
        assert await workers.run(1.0, sum, [1, 2, 3]) == 6
        with pytest.raises(ZeroDivisionError):
            await workers.run(1.0, lambda: 1 / 0)
        workers.close()
    asyncio.run(main())


def test_an_overrunning_job_does_not_block_the_next():
    release = threading.Event()

    async def main():
        workers = Workers(1)  # one thread: the stuck job would hold it
        with pytest.raises(TimeoutError):
            await workers.run(0.05, release.wait, 5)
        started = time.monotonic()
        assert await workers.run(1.0, lambda: "next") == "next"
        waited = time.monotonic() - started
        release.set()
        workers.close()
        return waited, workers.replaced

    waited, replaced = asyncio.run(main())
    assert waited < 0.5 and replaced == 1


def test_the_event_loop_runs_while_a_job_works():
    async def main():
        workers = Workers(1)
        ticks = 0

        async def tick():
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        ticker = asyncio.ensure_future(tick())
        await workers.run(2.0, time.sleep, 0.3)
        ticker.cancel()
        workers.close()
        return ticks

    assert asyncio.run(main()) >= 10


# -- processes (the default) -----------------------------------------------------------
def test_process_results_errors_and_unpicklable_jobs():
    async def main():
        workers = ProcessWorkers(2)
        assert await workers.run(30.0, sum, [1, 2, 3]) == 6
        assert await asyncio.gather(*[workers.run(30.0, pow, n, 2) for n in range(50)]) == [
            n * n for n in range(50)]
        with pytest.raises(ValueError, match="invalid literal"):
            await workers.run(5.0, int, "x")  # the job's own error, raised here
        with pytest.raises((pickle.PicklingError, AttributeError)):
            await workers.run(5.0, lambda: 1)  # refused before it is sent
        pids = [w.proc.pid for w in workers._workers]
        workers.close()
        return pids

    pids = asyncio.run(main())
    assert pids and not any(alive(pid) for pid in pids)


def test_an_overrunning_process_is_killed_and_the_jobs_behind_it_still_run():
    async def main():
        workers = ProcessWorkers(1)
        await workers.run(30.0, sum, [])  # started
        stuck_pid = workers._workers[0].proc.pid
        # The stuck job and the ones sent to the same worker behind it.
        results = await asyncio.gather(workers.run(0.5, time.sleep, 60),
                                       *[workers.run(30.0, abs, -n) for n in range(10)],
                                       return_exceptions=True)
        after = await workers.run(30.0, abs, -7)
        replaced = workers.replaced
        workers.close()
        return results, after, replaced, stuck_pid

    results, after, replaced, stuck_pid = asyncio.run(main())
    assert isinstance(results[0], TimeoutError) and not isinstance(results[0], WorkerLost)
    assert results[1:] == list(range(10)) and after == 7
    assert replaced == 1 and not alive(stuck_pid)


def test_a_worker_that_dies_mid_job_costs_that_job_only():
    async def main():
        workers = ProcessWorkers(1)
        with pytest.raises(WorkerLost, match="died|closed"):
            await workers.run(30.0, os._exit, 3)  # a crash in a decoder looks like this
        assert await workers.run(30.0, sum, [2, 3]) == 5  # on a new worker
        lost, started = workers.lost, workers.started
        workers.close()
        return lost, started

    assert asyncio.run(main()) == (1, 2)


def test_workers_ignore_ctrl_c_and_sigterm():
    async def main():
        workers = ProcessWorkers(1)
        await workers.run(30.0, sum, [])
        pid = workers._workers[0].proc.pid
        os.kill(pid, signal.SIGINT)
        os.kill(pid, signal.SIGTERM)
        await asyncio.sleep(0.2)
        answer = await workers.run(30.0, sum, [4, 5])
        workers.close()
        return answer

    assert asyncio.run(main()) == 9


def test_a_worker_that_cannot_start_falls_back_to_threads(monkeypatch, caplog):
    monkeypatch.setattr(sys, "executable", "/bin/false")  # exits at once, no greeting

    async def main():
        workers = ProcessWorkers(2, prestart=False)
        answers = await asyncio.gather(*[workers.run(30.0, sum, [n, 1]) for n in range(5)])
        workers.close()
        return answers

    assert asyncio.run(main()) == [1, 2, 3, 4, 5]
    assert "Worker processes cannot start" in caplog.text


@pytest.mark.parametrize("path", [EX / "jpg/Canon_40D.jpg", EX / "jpg/Nikon_COOLPIX_P1.jpg",
                                  EX / "tiff/Arbitro.tiff", EX / "heic/IMG_5195.HEIC"])
def test_a_worker_process_gives_the_fields_of_one_process(path):
    spans = crawled(path.read_bytes())
    limits = Limits(262144, 0.2, 1572864)
    here = fingerprint_fields(spans, 4096), perceptual_fields(spans, limits)
    assert spans._memo  # the walks above memoised their results

    async def main():
        workers = ProcessWorkers(1)
        there = (await workers.run(30.0, fingerprint_fields, spans, 4096),
                 await workers.run(30.0, perceptual_fields, spans, limits))
        workers.close()
        return there

    assert asyncio.run(main()) == here
    # What a worker is sent: the bytes held, not the parsers' memo.
    copy = pickle.loads(pickle.dumps(spans))
    assert copy._memo == {} and copy.ranges() == spans.ranges()
    assert len(pickle.dumps(spans)) < spans.held() + 512


def test_the_setting_picks_the_pool():
    def config(**values):
        return Config.from_crawler(project_crawler(**values))

    threads = workers_for(config(IMGPRINT_PROCESSES=1, IMGPRINT_PHASH_WORKERS=3))
    assert isinstance(threads, Workers) and threads.threads == 3
    threads.close()
    default = workers_for(config())
    assert isinstance(default, ProcessWorkers) and default.processes == max(cores(), 1)
    default.close()
    pinned = workers_for(config(IMGPRINT_PROCESSES=5))
    assert isinstance(pinned, ProcessWorkers) and pinned.processes == 5
    pinned.close()
    for bad in ("-1", "two", "1000"):
        with pytest.raises(ConfigError, match="IMGPRINT_PROCESSES"):
            config(IMGPRINT_PROCESSES=bad)


# -- crawls ------------------------------------------------------------------------------
def start_crawl(seeds: Path, out: Path, log: Path, **settings: object) -> subprocess.Popen:
    argv = [sys.executable, "-m", "scrapy", "crawl", "images", "-a", f"urls={seeds}",
            "-o", str(out)]
    for key, value in {"CONCURRENT_REQUESTS": 2, "DOWNLOAD_DELAY": 0.01, **settings}.items():
        argv += ["-s", f"{key}={value}"]
    # Its own process group, as a shell starts a command: Ctrl-C goes to the group.
    return subprocess.Popen(argv, cwd=PROJECT, stdout=subprocess.DEVNULL,
                            stderr=log.open("w"), start_new_session=True)


def wait_for(check, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("timed out")


@pytest.mark.crawl
def test_kill_9_of_the_crawl_leaves_no_worker_process(corpus_site, tmp_path):
    seeds = corpus_site.seed_file(tmp_path / "urls.txt")
    out = tmp_path / "out.jsonl"
    proc = start_crawl(seeds, out, tmp_path / "crawl.log", IMGPRINT_PROCESSES=2)
    try:
        pids = wait_for(lambda: out.exists() and out.stat().st_size and worker_pids(proc.pid))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        wait_for(lambda: not any(alive(pid) for pid in pids), timeout=5)
    finally:
        proc.kill()
    assert "Image work: up to 2 worker processes" in (tmp_path / "crawl.log").read_text()


@pytest.mark.crawl
def test_ctrl_c_stops_gracefully_with_every_field_and_no_worker_left(corpus_site, tmp_path):
    seeds = corpus_site.seed_file(tmp_path / "urls.txt")
    out, log = tmp_path / "out.jsonl", tmp_path / "crawl.log"
    proc = start_crawl(seeds, out, log, JOBDIR=tmp_path / "job")
    try:
        pids = wait_for(lambda: out.exists() and out.stat().st_size > 20000
                        and worker_pids(proc.pid))
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
        assert proc.wait(timeout=120) == 0
    finally:
        proc.kill()
    assert not any(alive(pid) for pid in pids)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) < len(corpus_site.images)  # it stopped early
    large = [r for r in records if (r.get("image_size") or 0) >= 20480 and not r.get("error")]
    assert large and all("sha256_first_10240_bytes" in r and "exif" in r for r in large)
    assert not any("took more than" in (r.get("error") or "") for r in records)
    text = log.read_text()
    assert "Image work: up to" in text and "0 stopped for overrunning, 0 died mid-job" in text
