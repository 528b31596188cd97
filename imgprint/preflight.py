"""What ``scrapy crawl images`` checks before the first request: seeds and feeds.

A problem found here is a ``ConfigError``: one line on stderr, exit status 2,
no request sent and no output file written, so an existing ``-O`` target is
left as it was (Scrapy opens a feed file only when the first record arrives, or
at the close of a run that recorded nothing; the feed check opens an existing
one for appending and writes nothing).

* ``check_seeds``: the URL file (``-a urls=``, else ``IMGPRINT_URLS_FILE``) can be
  read and holds at least one http(s) URL, or ``-a url=`` is one.
* ``check_feeds``: every feed of ``FEEDS`` has a storage Scrapy can use (an
  ``s3://`` feed without boto3 is "disabled" by Scrapy, which then drops every
  feed and crawls anyway); a local feed can be written: a file is created
  where it will be (and removed again), as the user running the crawl;
  an ``s3://`` feed's bucket answers (``head_bucket`` with the credentials and
  endpoint Scrapy's S3 storage uses: ``AWS_ACCESS_KEY_ID``,
  ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, ``AWS_ENDPOINT_URL``,
  ``AWS_REGION_NAME``, or the URI's own ``user:password@``).

An upload that still fails at the end of the crawl is caught by
``imgprint.extensions.feedwatch`` (exit status 4).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from scrapy.exceptions import NotConfigured
from scrapy.utils.misc import build_from_crawler, load_object

from imgprint.config import Config, ConfigError, SpiderArgs
from imgprint.resume.feeds import configured_feeds, local_path
from imgprint.urlfile import UrlFileError, check_url, read_url_file


def check_seeds(args: SpiderArgs, config: Config) -> None:
    """Raise ConfigError when the crawl has no seed to start from."""
    if args.url:
        reason = check_url(args.url)
        if reason:
            raise ConfigError(f"-a url={args.url!r}: {reason}")
        return
    path = args.urls or config.urls_file
    try:
        urls, bad = read_url_file(path)
    except UrlFileError as exc:
        where = "" if args.urls else " (IMGPRINT_URLS_FILE; run from the project directory" \
                                    " or give -a urls=FILE or -a url=URL)"
        raise ConfigError(f"{exc}{where}") from None
    if not urls:
        first = f"; {bad[0]}" if bad else ""
        raise ConfigError(f"URL file {path}: no http(s) URL in it{first}")


def redacted(uri: str) -> str:
    """A feed URI without the password of a ``user:password@`` part."""
    parts = urlsplit(uri)
    if parts.password:
        return uri.replace(f":{parts.password}@", ":***@", 1)
    return uri


def check_feeds(crawler: Any) -> None:
    """Raise ConfigError naming the first feed that cannot be written."""
    settings = crawler.settings
    storages = {k: v for k, v in settings.getwithbase("FEED_STORAGES").items() if v}
    for uri, options in configured_feeds(settings).items():
        scheme = urlsplit(uri).scheme if local_path(uri) is None else "file"
        if scheme not in storages:
            raise ConfigError(f"feed {redacted(uri)}: unknown storage scheme {scheme!r}"
                              f" (Scrapy has {', '.join(sorted(storages))})")
        try:
            storage = build_from_crawler(load_object(storages[scheme]), crawler, uri,
                                         feed_options=options)
        except NotConfigured as exc:
            hint = "; pip install -r requirements.txt" if "boto" in str(exc) else ""
            raise ConfigError(f"feed {redacted(uri)}: storage disabled: {exc}{hint}") from None
        path = local_path(uri)
        if path is not None:
            problem = local_problem(path)
        elif scheme == "s3":
            problem = s3_problem(storage)
        else:
            problem = None
        if problem:
            raise ConfigError(f"feed {redacted(uri)}: {problem}")


def local_problem(path: Path) -> str | None:
    """Why a feed file cannot be written at ``path``, or None.

    Found by doing it, as the user running the crawl: the missing directories
    are made and a new file is created beside ``path``, then both are removed; an
    existing file is opened for appending, which changes nothing in it.
    ``os.access`` would not do: for root it is true whatever the file system
    then refuses (/proc, /sys, root-squashed NFS...)."""
    if path.is_dir():
        return "is a directory"
    if path.exists():
        if not path.is_file():  # a device or a pipe: opening it may block
            return None if os.access(path, os.W_OK) else "file is not writable"
        try:
            with path.open("ab"):
                pass
        except OSError as exc:
            return f"file is not writable: {exc.strerror}"
        return None
    missing = [p for p in path.parents if not p.exists()]  # nearest first
    above = path.parents[len(missing)] if len(missing) < len(path.parents) else Path(".")
    if not above.is_dir():
        return f"{above} is not a directory"
    made: list[Path] = []
    try:
        for directory in reversed(missing):
            try:
                directory.mkdir()
            except OSError as exc:
                return f"cannot create directory {directory}: {exc.strerror}"
            made.append(directory)
        # A probe beside the feed, not the feed itself: a watcher of the feed's
        # path (a tail, a resuming job, a test) never sees it appear and vanish.
        probe = path.with_name(f".imgprint-check-{os.getpid()}")
        try:
            os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except OSError as exc:
            return f"cannot create a file in {path.parent}: {exc.strerror}"
        probe.unlink()
        return None
    finally:
        for directory in reversed(made):
            directory.rmdir()


def s3_problem(storage: Any) -> str | None:
    """Why the bucket of an S3 feed storage cannot be written to, or None."""
    import botocore.config
    import botocore.exceptions
    from boto3.session import Session

    client = Session().client(
        "s3", aws_access_key_id=getattr(storage, "access_key", None),
        aws_secret_access_key=getattr(storage, "secret_key", None),
        aws_session_token=getattr(storage, "session_token", None),
        endpoint_url=getattr(storage, "endpoint_url", None),
        region_name=getattr(storage, "region_name", None),
        config=botocore.config.Config(connect_timeout=10, read_timeout=20,
                                      retries={"max_attempts": 2}))
    bucket = getattr(storage, "bucketname", "")
    try:
        client.head_bucket(Bucket=bucket)
    except botocore.exceptions.ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in ("404", "NoSuchBucket"):
            return f"bucket {bucket!r} does not exist"
        if code in ("403", "AccessDenied"):
            return f"access to bucket {bucket!r} denied (check AWS_ACCESS_KEY_ID/SECRET)"
        return f"bucket {bucket!r}: {exc}"
    except botocore.exceptions.BotoCoreError as exc:
        return f"bucket {bucket!r}: {exc}"
    return None
