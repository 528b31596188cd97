"""Work off the event loop: a job that overruns does not hold up the next ones."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from imgprint.workers import Workers


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
