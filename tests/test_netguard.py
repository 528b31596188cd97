"""The private-address guard, the scheme rule and the page size cap, in real crawls.

Crawler and site run together in a private network namespace (``unshare
--net``) whose only interface is loopback, with a hosts file bind-mounted over
/etc/hosts. So a public-looking seed host (www.example.com) can live on
127.0.0.1, names can point at 10.x or 169.254.169.254, and if the guard ever
let such a request through, the connect would fail with "network unreachable"
inside the namespace: no packet can leave for 10.x or the metadata address.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from imgprint.middlewares.netguard import non_public
from tests.conftest import CORPUS, PROJECT, Crawl, Server

HOSTS = """\
127.0.0.1 localhost
::1 localhost
127.0.0.1 www.example.com
127.0.0.1 sneaky.example.org
169.254.169.254 metadata.example.net
10.1.2.3 lan.example.net
"""


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    """The hostile site, served inside its own network and mount namespace."""
    root = tmp_path_factory.mktemp("hostile")
    (root / "hosts").write_text(HOSTS)
    site = root / "site"
    (site / "img").mkdir(parents=True)
    jpg = CORPUS / "exif-samples" / "jpg" / "Konica_Minolta_DiMAGE_Z3.jpg"
    shutil.copy(jpg, site / "img" / "ok.jpg")
    shutil.copy(jpg, site / "img" / "secret.jpg")
    script = 'ip link set lo up && mount --bind "$0" /etc/hosts && exec "$@"'
    server = Server(["unshare", "--net", "--mount", f"--wd={PROJECT}", "--", "sh", "-c", script,
                     str(root / "hosts"), sys.executable, "-m", "tests.servers.static_site",
                     str(site), "--log", str(root / "access.jsonl")], root / "access.jsonl")
    port = server.port
    private = [
        f"http://127.0.0.1:{port}/img/secret.jpg?via=literal",
        f"http://localhost:{port}/img/secret.jpg?via=localhost",
        f"http://sneaky.example.org:{port}/img/secret.jpg?via=name",
        f"http://[::1]:{port}/img/secret.jpg?via=v6",
        "http://10.0.0.1/img/x.jpg",
        "http://169.254.169.254/latest/meta-data/x.jpg",
        "http://metadata.example.net/latest/meta-data/x.jpg",
        f"http://lan.example.net:{port}/x.jpg",
    ]
    refs = ["/img/ok.jpg", *private, "ftp://127.0.0.1/x.jpg", "file:///etc/passwd"]
    (site / "hostile.html").write_text(
        "<html><body>" + "".join(f'<img src="{u}">' for u in refs) + "</body></html>"
    )
    server.private = private
    yield server
    server.stop()


def crawl_inside(sandbox: Server, tmp: Path, *seeds: str, **settings: str) -> Crawl:
    """``scrapy crawl images`` run inside the sandbox's namespaces."""
    sandbox.clear_log()
    out = tmp / "out.jsonl"
    argv = ["nsenter", f"--target={sandbox.proc.pid}", "--net", "--mount", f"--wd={PROJECT}", "--",
            sys.executable, "-m", "scrapy", "crawl", "images", "-O", str(out)]
    (tmp / "urls.txt").write_text("".join(s + "\n" for s in seeds))
    argv += ["-a", f"urls={tmp / 'urls.txt'}"]
    for key, value in {"DOWNLOAD_TIMEOUT": "5", **settings}.items():
        argv += ["-s", f"{key}={value}"]
    proc = subprocess.run(argv, cwd=PROJECT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True, timeout=120)
    records = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    return Crawl(proc.returncode, records, proc.stderr, out)


def fetched(sandbox: Server) -> list[str]:
    return [r["path"] for r in sandbox.requests()]


@pytest.mark.crawl
def test_links_to_private_addresses_are_refused(sandbox, tmp_path):
    seed = f"http://www.example.com:{sandbox.port}/hostile.html"
    crawl = crawl_inside(sandbox, tmp_path, seed)
    assert crawl.returncode == 0, crawl.log[-3000:]
    records = {r["url"]: r for r in crawl.records}
    ok = records[f"http://www.example.com:{sandbox.port}/img/ok.jpg"]
    assert ok["http_status"] == 206 and "error" not in ok
    for url in sandbox.private:
        assert records[url]["error"].startswith("refused: "), records[url]
    assert "metadata.example.net (169.254.169.254) is not a public address" in crawl.log
    # What reached the server: the page and the one allowed image, nothing else.
    assert set(fetched(sandbox)) == {"/hostile.html", "/img/ok.jpg"}
    assert f"'imgprint/guard/refused/address': {len(sandbox.private)}" in crawl.log
    # ftp: and file: refs were skipped by the page parser, with a count.
    assert "'imgprint/images/skipped_scheme': 2" in crawl.log


@pytest.mark.crawl
def test_a_seed_on_loopback_still_works(sandbox, tmp_path):
    port = sandbox.port
    crawl = crawl_inside(sandbox, tmp_path, f"http://127.0.0.1:{port}/hostile.html")
    assert crawl.returncode == 0, crawl.log[-3000:]
    records = {r["url"]: r for r in crawl.records}
    for url in (f"http://127.0.0.1:{port}/img/ok.jpg", sandbox.private[0]):
        assert records[url]["http_status"] == 206 and "error" not in records[url]
    # Other names for the same machine are not the seed host.
    for url in sandbox.private[1:]:
        assert records[url]["error"].startswith("refused: "), records[url]
    assert set(fetched(sandbox)) == {
        "/hostile.html", "/img/ok.jpg", "/img/secret.jpg?via=literal"}


@pytest.mark.crawl
def test_guard_can_be_switched_off(sandbox, tmp_path):
    crawl = crawl_inside(sandbox, tmp_path, f"http://www.example.com:{sandbox.port}/hostile.html",
                         IMGPRINT_GUARD_PRIVATE="False", RETRY_ENABLED="False")
    assert crawl.returncode == 0, crawl.log[-3000:]
    got = set(fetched(sandbox))
    assert {"/img/secret.jpg?via=localhost", "/img/secret.jpg?via=name"} <= got
    assert "refused: " not in crawl.log


@pytest.mark.crawl
def test_page_size_cap(sandbox, tmp_path):
    port = sandbox.port
    crawl = crawl_inside(sandbox, tmp_path, f"http://www.example.com:{port}/hostile.html",
                         f"http://www.example.com:{port}/img/ok.jpg",
                         IMGPRINT_PAGE_MAXSIZE="200")
    assert "larger than download max size (200)" in crawl.log
    assert "Page failed: http://www.example.com" in crawl.log
    # A seed that is an image is not a page: the cap does not apply to it.
    (record,) = crawl.records
    assert record["http_status"] == 200 and "error" not in record
    assert record["image_size"] > 200 and record["sha256_first_10240_bytes"]


@pytest.mark.parametrize("address", [
    "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
    "0.0.0.0", "224.0.0.1", "::1", "fe80::1", "fc00::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1",
])
def test_non_public_addresses(address):
    assert non_public(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"])
def test_public_addresses(address):
    assert not non_public(address)

