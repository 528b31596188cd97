"""Import a module while ``inspect.stack`` is cheap (``import_with_a_short_stack``).

Scrapy's ``scrapy.core.downloader.contextfactory`` and ``tls`` modules, which
its HTTP/1.1 download handler imports, create deprecated aliases with
``scrapy.utils.deprecate.create_deprecated_class``. That calls
``inspect.stack()`` only to name the calling module (its second frame), and
``inspect.stack()`` reads the source lines of every frame on the stack: at the
depth where Scrapy loads download handlers, 30-60 ms of a crawl's start-up.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from types import FrameType, ModuleType


def import_with_a_short_stack(name: str) -> ModuleType:
    """Import module ``name`` with ``inspect.stack`` giving two frames only
    (all that ``create_deprecated_class`` reads). For the crawl's start-up,
    on the reactor's thread, before any other thread could look at a stack."""
    real = inspect.stack

    def stack(context: int = 1) -> list[inspect.FrameInfo]:
        frames: list[inspect.FrameInfo] = []
        frame: FrameType | None = sys._getframe(1)
        while frame is not None and len(frames) < 2:
            frames.append(inspect.FrameInfo(frame, frame.f_code.co_filename, frame.f_lineno,
                                            frame.f_code.co_name, None, None))
            frame = frame.f_back
        return frames

    inspect.stack = stack
    try:
        return importlib.import_module(name)
    finally:
        inspect.stack = real
