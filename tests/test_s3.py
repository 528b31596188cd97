"""S3 feeds against a real S3-compatible server: moto's server mode (``moto[server]``).

The endpoint and credentials come from the environment, as a user sets them
(``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``); boto3
is in requirements.txt.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import boto3
import pytest

from tests.conftest import Server, static_server
from tests.helpers import EX, PROJECT
from tests.services import moto_s3

pytestmark = pytest.mark.crawl

IMAGES = ["Canon_40D.jpg", "Canon_PowerShot_S40.jpg", "Konica_Minolta_DiMAGE_Z3.jpg",
          "Nikon_COOLPIX_P1.jpg"]


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("moto")
    server = moto_s3(workdir)
    env = {**os.environ, "AWS_ENDPOINT_URL": server.base, "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    client = boto3.client("s3", endpoint_url=server.base, aws_access_key_id="testing",
                          aws_secret_access_key="testing", region_name="us-east-1")
    yield client, env
    server.stop()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("s3site")
    for name in IMAGES:
        (root / name).symlink_to(EX / "jpg" / name)
    (root / "p.html").write_text("".join(f'<img src="{n}">' for n in IMAGES))
    server = static_server(root, root / "access.jsonl")
    yield server
    server.stop()


def crawl(env, *args, timeout=300):
    argv = [sys.executable, "-m", "scrapy", "crawl", "images", *args]
    return subprocess.run(argv, cwd=PROJECT, env=env, capture_output=True, text=True,
                          timeout=timeout)


def lines_of(client, bucket, key):
    body = client.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    assert body.endswith("\n")
    return [json.loads(line) for line in body.splitlines()]  # every line valid JSON


def test_feed_lands_in_the_bucket_complete(s3, site, tmp_path):
    client, env = s3
    client.create_bucket(Bucket="imgprint-feeds")
    local = tmp_path / "local.jsonl"
    proc = crawl(env, "-a", f"url={site.url('/p.html')}", "-O",
                 "s3://imgprint-feeds/run1/images.jsonl", "-O", str(local))
    assert proc.returncode == 0, proc.stderr[-3000:]
    remote = lines_of(client, "imgprint-feeds", "run1/images.jsonl")
    assert remote == [json.loads(line) for line in local.read_text().splitlines()]
    assert sorted(r["url"] for r in remote) == sorted(site.url(f"/{n}") for n in IMAGES)
    assert len([r for r in remote if r.get("sha256_first_10240_bytes")]) == 2  # two small ones
    assert "feed: s3://imgprint-feeds/run1/images.jsonl" in proc.stderr


def test_batches_are_uploaded_during_the_crawl(s3, site, tmp_path):
    """For long crawls: a batch URI uploads every N records, so a kill loses at most
    one batch; the local JSON-lines feed next to it is what a JOBDIR resumes from."""
    client, env = s3
    client.create_bucket(Bucket="imgprint-batches")
    local = tmp_path / "local.jsonl"
    feeds = {"s3://imgprint-batches/run/%(batch_id)03d.jsonl": {
                 "format": "jsonlines", "batch_item_count": 2},
             str(local): {"format": "jsonlines"}}
    proc = crawl(env, "-a", f"url={site.url('/p.html')}", "-s", f"FEEDS={json.dumps(feeds)}",
                 "-s", f"JOBDIR={tmp_path / 'job'}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    keys = sorted(o["Key"] for o in client.list_objects_v2(Bucket="imgprint-batches")["Contents"])
    assert keys == ["run/001.jsonl", "run/002.jsonl"]
    remote = [r for key in keys for r in lines_of(client, "imgprint-batches", key)]
    assert sorted(r["url"] for r in remote) == sorted(site.url(f"/{n}") for n in IMAGES)


def test_a_missing_bucket_is_refused_before_the_crawl(s3, site, tmp_path):
    _, env = s3
    site.clear_log()
    proc = crawl(env, "-a", f"url={site.url('/p.html')}", "-O", "s3://no-such-bucket/x.jsonl")
    assert proc.returncode == 2
    assert "imgprint: feed s3://no-such-bucket/x.jsonl: bucket 'no-such-bucket' does not exist" \
        in proc.stderr
    assert site.requests() == []


def test_an_upload_that_fails_at_the_end_exits_4(s3, tmp_path):
    """The bucket disappears while the crawl runs: the upload at close fails."""
    client, env = s3
    client.create_bucket(Bucket="imgprint-gone")
    root = tmp_path / "root"
    root.mkdir()
    (root / "a.jpg").symlink_to(EX / "jpg" / IMAGES[0])
    log = tmp_path / "faulty.jsonl"
    faulty = Server([sys.executable, "-m", "tests.servers.faulty_site", str(root),
                     "--log", str(log)], log)
    seeds = tmp_path / "urls.txt"
    # One good image, one that drips a byte a second until the 3 s timeout.
    seeds.write_text(f"{faulty.url('/ok/a.jpg')}\n{faulty.url('/drip/a.jpg')}\n")
    stderr = tmp_path / "crawl.log"
    argv = [sys.executable, "-m", "scrapy", "crawl", "images", "-a", f"urls={seeds}",
            "-O", "s3://imgprint-gone/x.jsonl", "-s", "DOWNLOAD_TIMEOUT=3",
            "-s", "RETRY_TIMES=0"]
    try:
        with stderr.open("w") as err:
            proc = subprocess.Popen(argv, cwd=PROJECT, env=env, stderr=err)
            deadline = time.monotonic() + 60
            while "Spider opened" not in stderr.read_text() and time.monotonic() < deadline:
                time.sleep(0.05)
            client.delete_bucket(Bucket="imgprint-gone")
            assert proc.wait(timeout=120) == 4, stderr.read_text()[-3000:]
    finally:
        faulty.stop()
    text = stderr.read_text()
    assert ("imgprint: feed not written: jsonl feed (2 items) in: s3://imgprint-gone/x.jsonl:"
            in text), text[-3000:]
    assert "NoSuchBucket" in text
