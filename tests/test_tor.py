"""Onion routing, against a real SOCKS5 server (Debian's microsocks) on loopback.

The made-up ``.onion`` names exist only inside the proxy: it runs in its own
mount namespace with a hosts file, bind-mounted over /etc/hosts, that maps them
to 127.0.0.1. The crawler cannot resolve them at all, so a crawl that works has
gone through the proxy. microsocks logs ``connected to HOST:PORT`` per client,
with HOST as the client sent it: a name for a DOMAINNAME request, digits for an
IP request. ``tests/servers/resolver_audit.py`` records every name the crawler
process itself looks up.
"""

from __future__ import annotations

import base64
import hashlib
import re
import socket
import subprocess
import time
from pathlib import Path

import pytest

from imgprint.middlewares.tor import pick_proxy
from tests.conftest import free_port, http_server_ignoring_range, run_crawl, static_server

# The seed tool's Tor Browser User-Agent (shared/NOTES.md).
TOR_BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def onion_name(seed: str) -> str:
    """A v3-shaped onion name (56 base32 characters) that exists nowhere."""
    digest = hashlib.shake_256(seed.encode()).digest(35)
    return base64.b32encode(digest).decode().lower() + ".onion"


ONIONS = [onion_name(f"imgprint-test-{i}") for i in range(6)]
A, B = ONIONS[0], ONIONS[1]
AUDIT = '{"tests.servers.resolver_audit.ResolverAudit": 0}'


class Socks:
    """microsocks on 127.0.0.1, seeing ``names`` as 127.0.0.1 through its own /etc/hosts."""

    def __init__(self, tmp: Path, names: list[str]):
        hosts = tmp / "hosts"
        hosts.write_text("127.0.0.1 localhost\n" + "".join(f"127.0.0.1 {n}\n" for n in names))
        self.port = free_port()
        self.log = tmp / "microsocks.log"
        script = 'mount --bind "$0" /etc/hosts && exec microsocks -i 127.0.0.1 -p "$1"'
        self.proc = subprocess.Popen(
            ["unshare", "--mount", "--", "sh", "-c", script, str(hosts), str(self.port)],
            stdout=subprocess.DEVNULL, stderr=self.log.open("a"),  # append: tests truncate it
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"microsocks: {self.log.read_text()}") from None
                time.sleep(0.05)
        self.url = f"socks5h://127.0.0.1:{self.port}"

    def targets(self) -> list[str]:
        """``host:port`` of every connection the proxy made, as the client named it."""
        return re.findall(r"connected to (\S+)", self.log.read_text())

    def hosts(self) -> set[str]:
        return {t.rsplit(":", 1)[0] for t in self.targets()}

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


@pytest.fixture(scope="module")
def proxies(tmp_path_factory):
    started = [Socks(tmp_path_factory.mktemp(f"socks{i}"), ONIONS) for i in range(2)]
    yield started
    for p in started:
        p.stop()


def seeds(tmp: Path, urls: list[str]) -> str:
    path = tmp / "urls.txt"
    path.write_text("".join(u + "\n" for u in urls))
    return f"urls={path}"


def lookups(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def stat(log: str, key: str) -> int:
    m = re.search(rf"'{re.escape(key)}': (\d+)", log)
    return int(m.group(1)) if m else 0


def test_onion_crawl_goes_through_the_proxy_by_name(tmp_path, proxies, corpus_site):
    socks = proxies[0]
    socks.log.write_text("")
    site = corpus_site.server
    site.clear_log()
    ignoring = http_server_ignoring_range(corpus_site.root, tmp_path / "norange.jsonl")
    try:
        audit = tmp_path / "lookups.txt"
        crawl = run_crawl(
            tmp_path,
            "-a", seeds(tmp_path, [
                f"http://{A}:{site.port}/pages/0000.html",
                f"http://{A}:{site.port}/pages/0001.html",
                # A server that ignores Range: stop-after-N-bytes must still cut.
                f"http://{B}:{ignoring.port}/pages/0003.html",
                # Clearnet control: its lookup shows the audit sees lookups.
                f"http://localhost:{site.port}/pages/0002.html",
            ]),
            settings={"TOR_PROXIES": socks.url, "EXTENSIONS": AUDIT,
                      "RESOLVER_AUDIT_LOG": audit},
        )
        direct = run_crawl(tmp_path, "-a", seeds(tmp_path, [
            site.url("/pages/0000.html"), site.url("/pages/0001.html"),
            site.url("/pages/0003.html"),
        ]), output="direct.jsonl")
        served = site.requests()
    finally:
        ignoring.stop()
    assert crawl.returncode == 0, crawl.log[-3000:]

    # Requests through Tor carry Tor Browser's User-Agent; clearnet ones do not.
    agents = {(r["host"].rsplit(":", 1)[0].endswith(".onion"), r["ua"]) for r in served}
    assert {ua for onion, ua in agents if onion} == {TOR_BROWSER_UA}
    assert TOR_BROWSER_UA not in {ua for onion, ua in agents if not onion}

    # Every image of the onion pages recorded, as a direct crawl of the same
    # pages records it (errors included: some corpus files have broken EXIF).
    onion, plain = crawl.by_path(), direct.by_path()
    assert len(plain) >= 50
    for path, record in plain.items():
        for key in ("sha256_first_10240_bytes", "image_size", "error"):
            assert onion[path].get(key) == record.get(key), (path, key)
    hosts = {r["url"].split("/")[2].split(":")[0] for r in crawl.records}
    assert {A, B, "localhost"} <= hosts

    # Range requests and the byte budget kept on the Tor path.
    assert stat(crawl.log, "imgprint/range/partial") > 0
    assert stat(crawl.log, "imgprint/range/ignored") > 0
    assert stat(crawl.log, "imgprint/download_stopped") > 0
    # The download stops at the first read that completes the prefix; httpx
    # reads at most 64 KiB at a time (the first body chunk is what followed
    # the headers in their read, so it can take two reads).
    # (Records of several requests include follow-up ranges for metadata.)
    cut = [r for r in crawl.records
           if B in r["url"] and r["http_status"] == 200 and r["requests"] == 1]
    assert cut and all(r["bytes_fetched"] <= 10241 + 64 * 1024 for r in cut)
    assert any(r["image_size"] > 64 * 1024 for r in cut)

    # The proxy was asked for the onion names, never for an address; it was
    # not asked for the clearnet seed.
    targets = socks.targets()
    assert f"{A}:{site.port}" in targets and f"{B}:{ignoring.port}" in targets
    assert all(t.rsplit(":", 1)[0].endswith(".onion") for t in targets), targets
    # Connections are kept alive: fewer proxy connections than requests.
    assert stat(crawl.log, "imgprint/tor/requests") > 40

    # The crawler itself never looked an onion name up.
    seen = lookups(audit)
    assert "localhost" in seen
    assert not [name for name in seen if ".onion" in name], seen


def test_tor_all_sends_clearnet_through_the_proxy(tmp_path, proxies, corpus_site):
    socks = proxies[0]
    socks.log.write_text("")
    audit = tmp_path / "lookups.txt"
    port = corpus_site.server.port
    crawl = run_crawl(
        tmp_path, "-a", f"url=http://localhost:{port}/pages/0004.html",
        settings={"TOR_PROXIES": socks.url, "TOR_ALL": "True", "EXTENSIONS": AUDIT,
                  "RESOLVER_AUDIT_LOG": audit},
    )
    assert crawl.returncode == 0
    assert len(crawl.records) == 20
    assert not [r for r in crawl.records if r.get("http_status") != 206]
    assert set(socks.targets()) == {f"localhost:{port}"}
    assert "localhost" not in lookups(audit)


def test_each_onion_host_sticks_to_one_proxy(tmp_path, proxies, corpus_site):
    for p in proxies:
        p.log.write_text("")
    port = corpus_site.server.port
    urls = [f"http://{h}:{port}/pages/{n:04d}.html" for h in ONIONS for n in (5, 6)]
    crawl = run_crawl(tmp_path, "-a", seeds(tmp_path, urls),
                      settings={"TOR_PROXIES": ",".join(p.url for p in proxies)})
    assert crawl.returncode == 0
    assert len(crawl.records) > 6 * 20
    assert not [r for r in crawl.records if r.get("http_status") != 206]
    urls_of = [p.url for p in proxies]
    for p in proxies:
        # Every connection this proxy made was for a host mapped to it.
        assert p.hosts(), "both proxies are used by these six names"
        assert {h.split(":")[0] for h in p.hosts()} == {
            h for h in ONIONS if pick_proxy(h, urls_of) == p.url}
    assert proxies[0].hosts().isdisjoint(proxies[1].hosts())


def test_proxy_down_fails_onion_requests_clearly_and_clearnet_goes_on(tmp_path, corpus_site):
    dead = free_port()  # nothing listens there
    site = corpus_site.server
    root = tmp_path / "site"
    root.mkdir()
    (root / "mixed.html").write_text(
        f'<img src="{site.url("/img/exif-samples/jpg/Konica_Minolta_DiMAGE_Z3.jpg")}">'
        f'<img src="http://{A}:{site.port}/img/exif-samples/jpg/Nikon_COOLPIX_P1.jpg">'
    )
    server = static_server(root, tmp_path / "access.jsonl")
    try:
        crawl = run_crawl(tmp_path, "-a", seeds(tmp_path, [
            server.url("/mixed.html"), f"http://{A}:{site.port}/pages/0000.html",
        ]), settings={"TOR_PROXIES": f"socks5h://127.0.0.1:{dead}"})
    finally:
        server.stop()
    message = f"Tor proxy 127.0.0.1:{dead} unreachable"
    records = {r["url"]: r for r in crawl.records}
    assert "error" not in records[site.url("/img/exif-samples/jpg/Konica_Minolta_DiMAGE_Z3.jpg")]
    onion_image = records[f"http://{A}:{site.port}/img/exif-samples/jpg/Nikon_COOLPIX_P1.jpg"]
    assert message in onion_image["error"], onion_image
    assert re.search(rf"Page failed: http://{A}:\d+/pages/0000.html: .*{message}", crawl.log)
    # Told once, not once per request; not all seeds are onion ones here.
    assert crawl.log.count("every request routed through it fails") == 1
    assert "all seeds are onion URLs" not in crawl.log

    only_onion = run_crawl(tmp_path, "-a", seeds(tmp_path, [
        f"http://{h}:{site.port}/pages/0000.html" for h in ONIONS[:3]
    ]), settings={"TOR_PROXIES": f"socks5h://127.0.0.1:{dead}"}, output="onion.jsonl")
    assert only_onion.log.count("all seeds are onion URLs, so this crawl fetches nothing") == 1
    assert only_onion.log.count("Page failed: http://") == 3
