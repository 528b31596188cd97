"""The perceptual hash's top band in the follow-up loop: which of its bytes to
ask for next (``next_band``), and how many of an answer's bytes were its
(``band_part``: they count against ``Budget.band_bytes``, not ``Budget.bytes``).

The first request asks for ``BAND_MARGIN`` times the band's share of the
image data (``formats.picture.band_want``); while a JPEG's header walk is
short of its scan, a window guessed from where it stopped
(``formats.picture.band_guess``) stands in for it. Once that was asked for,
or is mostly held anyway, a ``BandCheck`` (a decode: the crawler runs it on a
worker thread) says whether the band's rows are all there; if not, a second
request asks for ``BAND_RETRY`` times the first share; if so, its hash is kept
(``FollowupResult.band_found``) for the pipeline. Never past
``Budget.band_bytes`` from the start of the image data.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from imgprint.fingerprint.limits import BAND_MARGIN, BAND_RETRY, BandChecked
from imgprint.formats.picture import band_guess, band_span, band_want
from imgprint.spans import Spans

if TYPE_CHECKING:
    from imgprint.fetch.loop import Budget, FollowupResult

#: Whether the top band (share of the height, most coded bytes) is located
#: and begun but not all held, and its hash when it is: decodes it, so the
#: crawler runs it off the event loop.
BandCheck = Callable[[Spans, float, int], Awaitable[BandChecked]]


async def next_band(spans: Spans, budget: Budget, result: FollowupResult,
                check: BandCheck | None) -> tuple[int, int] | None:
    """The top band's bytes to ask for next, never past ``Budget.band_bytes``
    from the start of the image data: its first share (``BAND_MARGIN`` times
    the band's; while a JPEG's header walk is short of its scan, a window
    guessed from where it stopped, ``formats.picture.band_guess``); then, once
    that was asked for (or is mostly held anyway) and ``check`` says the
    band's rows are not all there, ``BAND_RETRY`` times that share (when
    they are, ``result.band_found`` keeps what the check decoded)."""
    share = budget.band * BAND_MARGIN
    located = band_span(spans)
    if located is None:
        return None if result.band_asked else band_guess(spans, share, budget.band_bytes)
    if result.band_retry:
        return band_want(spans, share * BAND_RETRY, budget.band_bytes)
    first = band_want(spans, share, budget.band_bytes)
    asked = result.band_asked and spans.has(located[0], located[0] + 1)
    if first is not None and not asked and not _mostly_held(spans, first):
        return first
    asks = budget.requests + (budget.hash_requests if budget.requests else 0)
    more = band_want(spans, share * BAND_RETRY, budget.band_bytes)
    if (more is None or result.band_checked or check is None or not budget.band_alone
            or result.requests >= asks):
        return None if asked else first
    result.band_checked = True
    checked = await check(spans, budget.band, budget.band_bytes)
    if not checked.short:
        result.band_found = checked if checked.decoded else None
        return None
    result.band_retry = True
    return more


def _mostly_held(spans: Spans, want: tuple[int, int]) -> bool:
    """Half of `want` or more is held from its start: the band may decode already."""
    start, stop = want
    return (spans.missing(start, stop)[0][0] - start) * 2 >= stop - start


def band_part(ranges: list[tuple[int, int]], band: tuple[int, int] | None, got: int) -> int:
    """Bytes of an answer to `ranges` (`got` in all) that were the band's."""
    if band is None:
        return 0
    part = sum(max(0, min(e, band[1]) - max(s, band[0])) for s, e in ranges)
    return min(part, got)
