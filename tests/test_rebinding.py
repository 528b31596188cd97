"""DNS rebinding with a trailing dot (issue 12, finding 8), in a private network
namespace whose resolver is a hostile DNS server the test starts
(``tests/servers/rebind_dns.py``): the first answer for ``rebind.evil.test`` is
public, every later one 127.0.0.1. The guard's own lookup sees the public
address; the connect, made to ``rebind.evil.test.`` (another DNS cache key),
sees loopback. Only the connect-time check (``imgprint.resolver``) stops it.
"""

from __future__ import annotations

import shutil
import sys

import pytest

from tests.conftest import CORPUS, PROJECT, Server
from tests.test_netguard import crawl_inside, fetched

HOSTS = "127.0.0.1 localhost\n127.0.0.1 www.example.com\n"


@pytest.fixture(scope="module")
def rebinding(tmp_path_factory):
    root = tmp_path_factory.mktemp("rebind")
    (root / "hosts").write_text(HOSTS)
    (root / "resolv.conf").write_text("nameserver 127.0.0.1\noptions attempts:1 timeout:1\n")
    site = root / "site"
    (site / "img").mkdir(parents=True)
    jpg = CORPUS / "exif-samples" / "jpg" / "Konica_Minolta_DiMAGE_Z3.jpg"
    shutil.copy(jpg, site / "img" / "ok.jpg")
    shutil.copy(jpg, site / "img" / "secret.jpg")
    script = ('ip link set lo up && mount --bind "$0" /etc/hosts && mount --bind "$1" '
              '/etc/resolv.conf && { "$2" -m tests.servers.rebind_dns 2>"$3" >/dev/null & } '
              '&& sleep 1 && shift 3 && exec "$@"')
    server = Server(["unshare", "--net", "--mount", f"--wd={PROJECT}", "--", "sh", "-c", script,
                     str(root / "hosts"), str(root / "resolv.conf"), sys.executable,
                     str(root / "dns.log"), sys.executable, "-m", "tests.servers.static_site",
                     str(site), "--log", str(root / "access.jsonl")], root / "access.jsonl")
    port = server.port
    (site / "rebind.html").write_text(
        f'<html><body><img src="/img/ok.jpg">'
        f'<img src="http://rebind.evil.test.:{port}/img/secret.jpg"></body></html>')
    server.dns_log = root / "dns.log"
    yield server
    server.stop()


@pytest.mark.crawl
def test_rebinding_with_a_trailing_dot_is_refused_at_connect(rebinding, tmp_path):
    port = rebinding.port
    crawl = crawl_inside(rebinding, tmp_path, f"http://www.example.com:{port}/rebind.html")
    assert crawl.returncode == 0, crawl.log[-3000:]
    dns_log = rebinding.dns_log.read_text()
    assert "rebind.evil.test #1 -> 93.184.216.34" in dns_log  # the guard's lookup
    assert "rebind.evil.test #2 -> 127.0.0.1" in dns_log, dns_log  # the connect's
    records = {r["url"]: r for r in crawl.records}
    secret = records[f"http://rebind.evil.test.:{port}/img/secret.jpg"]
    assert "error" in secret and "http_status" not in secret, secret
    assert "random_128_bytes_sample_start" not in secret
    assert "/img/secret.jpg" not in fetched(rebinding)
    assert "'imgprint/guard/refused/connect'" in crawl.log
    assert records[f"http://www.example.com:{port}/img/ok.jpg"]["http_status"] == 206
