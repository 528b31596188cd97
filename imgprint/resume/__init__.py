"""Resume a crawl killed at any moment with every image recorded exactly once.

Scrapy's ``JOBDIR`` keeps the dupefilter's ``requests.seen`` safely (one line
per request) but not the scheduler's disk queues: queuelib writes their state
only on a clean close, and requests already taken from a queue are lost at a
SIGKILL. So, with ``JOBDIR`` set, imgprint keeps pending requests in memory
(``imgprint.scrapy_internals.NoDiskQueues``) and ``ResumeExtension``:

* journals every page and image the spider signals (``imgprint.signals``) in
  ``JOBDIR/imgprint-journal.jsonl`` (``imgprint.resume.journal``);
* treats the job's local JSON-lines feed files as the truth of what is done
  (``imgprint.resume.feeds``): on resume their complete records are the
  recorded images, and a line cut by a kill is removed (its image is fetched
  again);
* answers ``resume_requested`` with a ``ResumeState``: pages not parsed to
  the end and images without a record, which the spider requests again.

Feeds that cannot be read back or appended to (``-O``, ``.json`` arrays, batch
feeds, only S3) are refused at start by ``check_jobdir_feeds``.

Settings read: ``JOBDIR``, ``FEEDS``, ``FEED_EXPORT_BATCH_ITEM_COUNT``,
``FEED_URI``/``FEED_FORMAT``, ``IMGPRINT_DEFAULT_FEED``. Stats:
``imgprint/resume/pages``, ``imgprint/resume/images``,
``imgprint/resume/recorded``, ``imgprint/resume/repaired_lines``.
"""

from imgprint.resume.extension import ResumeExtension
from imgprint.resume.feeds import check_jobdir_feeds
from imgprint.resume.journal import Journal, ResumeState, load_state

__all__ = ["Journal", "ResumeExtension", "ResumeState", "check_jobdir_feeds", "load_state"]
