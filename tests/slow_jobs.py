"""The pipeline's two jobs, made slow: a stand-in for a hostile file whose walk
or hashes run long. Module-level functions, so that a worker process can
unpickle them (the project root is on its path); each calls the real job,
bound here at import, after the sleep."""

from __future__ import annotations

import time
from typing import Any

from imgprint import pipelines

#: Seconds each job sleeps first; a test's limit is a small part of it, so the
#: job overruns whatever the machine's speed and the order events arrive in.
SLEEP = 3.0

_walk = pipelines.fingerprint_fields
_hashes = pipelines.perceptual_fields


def slow_walk(*args: Any) -> dict[str, Any]:
    time.sleep(SLEEP)
    return _walk(*args)


def slow_hashes(*args: Any) -> dict[str, Any]:
    time.sleep(SLEEP)
    return _hashes(*args)
