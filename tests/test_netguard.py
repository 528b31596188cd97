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



# --- issue 12, findings 8-10 --------------------------------------------------------


@pytest.mark.parametrize("address", [
    "::7f00:1", "64:ff9b::a9fe:a9fe", "2002:7f00:1::", "::ffff:0:7f00:1", "fec0::1",
    "2002:a00:1::1", "64:ff9b::a00:1", "64:ff9b:1::5db8:d822",
])
def test_ipv6_forms_embedding_private_ipv4(address):
    """Finding 9: IPv4-compatible, NAT64, 6to4, IPv4-translated and site-local forms."""
    assert non_public(address)


@pytest.mark.parametrize("address", ["64:ff9b::5db8:d822", "2002:5db8:d822::1"])
def test_ipv6_forms_embedding_public_ipv4(address):
    assert not non_public(address)


def _guard(*seeds: str):
    import asyncio
    from types import SimpleNamespace
    from urllib.parse import urlsplit

    from imgprint.frontier.state import CrawlState
    from imgprint.middlewares.netguard import NetGuardMiddleware
    from tests.helpers import project_crawler

    crawler = project_crawler()
    crawler.stats = SimpleNamespace(inc_value=lambda *a, **k: None)
    CrawlState.of(crawler).set_seeds({urlsplit(s).hostname or "" for s in seeds})
    middleware = NetGuardMiddleware(crawler)

    def check(url: str) -> str:
        from scrapy import Request
        try:
            asyncio.run(middleware.process_request(Request(url)))
        except Exception as exc:  # noqa: BLE001 - the refusal is the answer
            return str(exc)
        return "allowed"

    return check


def test_seed_exemption_is_the_seed_host_on_any_port():
    """Finding 9: the exemption covers every port of a seed host (whoever seeds a
    private host vouches for that machine), and no other spelling of it."""
    check = _guard("http://127.0.0.1:8000/")
    assert check("http://127.0.0.1:8000/a.jpg") == "allowed"
    assert check("http://127.0.0.1:6379/a.jpg") == "allowed"
    assert check("http://[::7f00:1]:8000/a.jpg").startswith("refused: ")
    assert check("http://[::ffff:0:7f00:1]:8000/a.jpg").startswith("refused: ")


def test_a_seed_written_with_a_trailing_dot_is_a_seed():
    """Finding 9: a seed host spelled with a trailing dot was "not a seed host"."""
    check = _guard("http://127.0.0.1.:8000/")
    assert check("http://127.0.0.1:8000/a.jpg") == "allowed"
    assert check("http://127.0.0.1.:8000/a.jpg") == "allowed"
    assert _guard("http://127.0.0.1:8000/")("http://127.0.0.1.:8000/a.jpg") == "allowed"


def test_remote_control_is_off():
    """Finding 10: Scrapy 2.19's remote-control extension (runs Python sent to a
    localhost endpoint) is off, like Telnet."""
    from scrapy.exceptions import NotConfigured
    from scrapy.extensions.remote_control import RemoteControl

    from tests.helpers import project_crawler

    crawler = project_crawler()
    assert crawler.settings.getbool("REMOTE_CONTROL_ENABLED") is False
    with pytest.raises(NotConfigured):
        RemoteControl.from_crawler(crawler)
