"""``scrapy dupes``: the real command on small feeds, and its functions on random data."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from imgprint import dupes
from imgprint.dupes import Catalog, bounds, build_report, iter_file, load, mih, near_groups
from imgprint.dupes import near_pairs as near_pairs_numpy
from tests.dupes_oracle import near_pairs_brute, near_pairs_python

PROJECT = Path(__file__).resolve().parents[1]
H1 = "c629c7247153f59599727db141ee1f3c5e4a5a3cc90fa88e2e97d3d78c2fc823"
H2 = "adf9ea1f2265b3d56827be6b29397c5e6c430bfda8d1e29869fe920a7fa2e114"
C1 = "11" * 32
C2 = "22" * 32
HOSTILE = 'https://evil.example/<script>alert("x")</script>\x1b[31m.jpg'


def run_dupes(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "scrapy", "dupes", *map(str, args)],
                          cwd=PROJECT, capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def feeds(tmp_path_factory) -> dict[str, Path]:
    """The same crawl as imgprint JSON lines, a Scrapy JSON list and seed-tool files."""
    d = tmp_path_factory.mktemp("feeds")
    jsonl = [
        # H1 on two sites; the second record of a.jpg only adds a page.
        {"url": "https://img.example.co.uk/a.jpg", "pages": ["https://www.example.co.uk/1"],
         "sha256_first_10240_bytes": H1, "content_sha256": C1, "phash": "ffff0000ffff0000",
         "image_size": 30000, "etag": "abc"},
        {"url": "https://cdn.other.org/b.jpg", "pages": ["https://other.org/x"],
         "sha256_first_10240_bytes": H1, "content_sha256": C1, "phash": "ffff0000ffff0000"},
        {"url": "https://img.example.co.uk/a.jpg", "pages": ["https://blog.third.net/p"],
         "seen_before": True},
        # Same pixels (content_sha256), other metadata (first bytes differ).
        {"url": "https://third.net/c.jpg", "pages": ["https://third.net/"],
         "sha256_first_10240_bytes": H2, "content_sha256": C2, "phash": "0123456789abcdef"},
        {"url": "https://other.org/c-copy.jpg", "pages": ["https://other.org/y"],
         "sha256_first_10240_bytes": "33" * 32, "content_sha256": C2},
        # A near-duplicate of a.jpg (3 bits), a different file.
        {"url": "https://fourth.io/a-resized.jpg", "pages": ["https://fourth.io/"],
         "sha256_first_10240_bytes": "44" * 32, "content_sha256": "55" * 32,
         "phash": "ffff0000ffff0007"},
        {"url": HOSTILE, "pages": ["https://evil.example/"], "sha256_first_10240_bytes": H2},
    ]
    (d / "feed.jsonl").write_text("".join(json.dumps(r) + "\n" for r in jsonl))
    # Scrapy's -O x.json layout: one record a line inside a list.
    (d / "feed.json").write_text("[\n" + ",\n".join(json.dumps(r) for r in jsonl) + "\n]")
    seed = d / "seed"
    (seed / "example").mkdir(parents=True)
    (seed / "other").mkdir()
    (seed / "example" / "2b54489f9a.json").write_text(json.dumps(
        [{"url": "https://exiv2.example.org/include/img_1771.jpg", "image_size": 32764,
          "etag": "68b420a9-7ffc", "timestamp": "2025-11-03T10:14:42",
          "exif": {"Image Make": "Canon"}, "sha256_first_10240_bytes": H1,
          "random_128_bytes_sample_start": "ef43"},
         {"url": "https://exiv2.example.org/small.jpg", "image_size": 1000,
          "etag": None, "timestamp": "2025-11-03T10:14:42"}], indent=4))
    # The seed tool's detector also accepts a file holding one object.
    (seed / "other" / "aa.json").write_text(json.dumps(
        {"url": "https://mirror.other.net/copy.jpg", "sha256_first_10240_bytes": H1,
         "exif": {}}, indent=4))
    return {"jsonl": d / "feed.jsonl", "json": d / "feed.json", "seed": seed, "dir": d}


def exact_urls(report: dict, kind: str) -> list[set[str]]:
    return [{i["url"] for i in g["images"]} for g in report["exact"][kind]]


# --- The command ------------------------------------------------------------------


@pytest.mark.crawl
@pytest.mark.parametrize("fmt", ["jsonl", "json"])
def test_json_output_same_for_lines_and_list(feeds, fmt):
    proc = run_dupes("--json", feeds[fmt])
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["summary"]["records"] == 7
    assert report["summary"]["images"] == 6
    assert sorted(map(sorted, exact_urls(report, "content_sha256"))) == sorted([
        sorted({"https://third.net/c.jpg", "https://other.org/c-copy.jpg"}),
        sorted({"https://img.example.co.uk/a.jpg", "https://cdn.other.org/b.jpg"}),
    ])
    assert sorted(map(sorted, exact_urls(report, "sha256_first_10240_bytes"))) == sorted([
        sorted({"https://third.net/c.jpg", HOSTILE}),
        sorted({"https://cdn.other.org/b.jpg", "https://img.example.co.uk/a.jpg"}),
    ])
    g = next(g for g in report["exact"]["sha256_first_10240_bytes"] if g["hash"] == H1)
    assert g["image_sizes"] == [30000]
    a = next(i for i in g["images"] if i["url"].endswith("/a.jpg"))
    # Registrable domains of the pages, the seen_before page included.
    assert a["sites"] == ["example.co.uk", "third.net"]
    # The resized copy joins a.jpg and b.jpg (identical) through its phash.
    [near] = report["near"]
    assert {i["url"]: i["distance"] for i in near["images"]} == {
        "https://img.example.co.uk/a.jpg": 0, "https://cdn.other.org/b.jpg": 0,
        "https://fourth.io/a-resized.jpg": 3}
    assert report["summary"]["distance"] == dupes.DEFAULT_DISTANCE
    assert report["errors"] == {"count": 0, "first": []}


@pytest.mark.crawl
def test_sites_sharing(feeds):
    report = json.loads(run_dupes("--json", feeds["jsonl"]).stdout)
    groups = {tuple(g["sites"]): g for g in report["sites"]["groups"]}
    # Image C (content_sha256 C2 = first bytes H2 = the hostile URL): three sites.
    assert set(groups) == {("example.co.uk", "other.org", "third.net"),
                           ("evil.example", "other.org", "third.net")}
    assert groups["example.co.uk", "other.org", "third.net"]["count"] == 1
    per_site = report["sites"]["per_site"]
    assert per_site["other.org"] == 2 and per_site["third.net"] == 2
    edges = {(e["a"], e["b"]): e["images"] for e in report["sites"]["edges"]}
    assert edges["other.org", "third.net"] == 2
    assert edges["example.co.uk", "other.org"] == 1


@pytest.mark.crawl
def test_seed_tool_files(feeds):
    """A directory of the seed tool's files (indented list, single object)."""
    proc = run_dupes("--json", feeds["seed"])
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["summary"]["files"] == 2 and report["summary"]["images"] == 3
    assert exact_urls(report, "sha256_first_10240_bytes") == [
        {"https://exiv2.example.org/include/img_1771.jpg", "https://mirror.other.net/copy.jpg"}]
    # No pages in seed records: the image's own host stands for the site.
    [group] = report["sites"]["groups"]
    assert group["sites"] == ["example.org", "other.net"]


@pytest.mark.crawl
def test_mixed_inputs_merge(feeds):
    report = json.loads(run_dupes("--json", feeds["jsonl"], feeds["seed"]).stdout)
    [g] = [g for g in report["exact"]["sha256_first_10240_bytes"] if g["hash"] == H1]
    assert g["count"] == 4


@pytest.mark.crawl
def test_text_output(feeds):
    proc = run_dupes(feeds["jsonl"], "--distance", "2")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "sha256_first_10240_bytes: 2 groups of identical images (4 URLs)" in out
    assert "content_sha256: 2 groups" in out
    # Distance 3 is beyond 2: no near-duplicate group.
    assert "else phash Hamming distance <= 2; or top band pHash (phash_band) Hamming " \
           "distance <= 8): 0 groups" in out
    assert "https://cdn.other.org/b.jpg" in out
    assert "identical images between the sites: example.co.uk, other.org, third.net" in out
    # Terminal escapes from the records are shown, not sent.
    assert "\x1b" not in out and "\\u001b[31m" in out


@pytest.mark.crawl
def test_html_output(feeds, tmp_path):
    page = tmp_path / "dupes.html"
    proc = run_dupes("--html", page, feeds["jsonl"])
    assert proc.returncode == 0, proc.stderr
    html = page.read_text()
    assert html.startswith("<!DOCTYPE html>")
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    # Hostile strings only escaped: one <script> for data, one for the graph.
    assert html.count("<script") == 2 and html.count("</script>") == 2
    assert "alert(" not in html.replace("alert(&quot;", "")
    assert "\x1b" not in html
    assert 'href="https://cdn.other.org/b.jpg"' in html
    # Nothing fetched when the page is viewed.
    assert not re.search(r"""\s(src|srcset)=|url\(|@import""", html)
    data = re.search(r'<script type="application/json" id=data>(.*?)</script>', html, re.S)
    graph = json.loads(data.group(1))
    assert {n["id"] for n in graph["nodes"]} == {
        "example.co.uk", "other.org", "third.net", "evil.example"}


@pytest.mark.crawl
def test_bad_lines_and_files(tmp_path):
    good = {"url": "https://a.org/x.jpg", "pages": ["https://a.org/"],
            "sha256_first_10240_bytes": H1}
    twin = {"url": "https://b.org/x.jpg", "pages": ["https://b.org/"],
            "sha256_first_10240_bytes": H1}
    jl = tmp_path / "bad.jsonl"
    jl.write_text(json.dumps(good) + "\n{not json\n" + json.dumps({"pages": []}) + "\n"
                  + json.dumps({**twin, "phash": "xyz"}) + "\n")
    lst = tmp_path / "bad.json"
    third = {**twin, "url": "https://c.org/x.jpg", "pages": ["https://c.org/"]}
    lst.write_text("[\n" + json.dumps(good) + ",\n{\"url\": oops},\n" + json.dumps(third)
                   + "\n]")
    proc = run_dupes("--json", jl, lst, tmp_path / "missing.jsonl")
    assert proc.returncode == 1
    err = proc.stderr
    assert f"{jl}:2: bad JSON" in err
    assert f"{jl}:3: record without a url" in err
    assert f"{jl}:4: phash: not 16 hex digits" in err
    assert f"{lst}:3: bad JSON" in err
    assert f"{tmp_path / 'missing.jsonl'}: no such file" in err
    report = json.loads(proc.stdout)
    # Everything readable was used, the element after the bad one included.
    assert exact_urls(report, "sha256_first_10240_bytes") == [
        {"https://a.org/x.jpg", "https://b.org/x.jpg", "https://c.org/x.jpg"}]
    assert report["errors"]["count"] == 5


@pytest.mark.crawl
def test_usage_errors(tmp_path):
    assert run_dupes().returncode == 2
    assert run_dupes("--distance", "99", tmp_path).returncode == 2


# --- Reading ---------------------------------------------------------------------------


def test_document_streaming_across_chunks(tmp_path, monkeypatch):
    """Small chunks: values, strings and the error resync all cross chunk ends."""
    monkeypatch.setattr(bounds, "_CHUNK", 7)
    recs = [{"url": f"https://s{i}.org/{'x' * i}.jpg", "exif": {"k": "v" * i}} for i in range(30)]
    text = json.dumps(recs[:10], indent=4)[:-1] + ",\n    {\"url\": [1, }\n"
    text += ",\n".join(json.dumps(r, indent=4) for r in recs[10:]) + "]"
    f = tmp_path / "seedlike.json"
    f.write_text(text)
    errors = []
    got = list(iter_file(f, errors.append))
    assert [r["url"] for _, r in got] == [r["url"] for r in recs]
    [err] = errors
    assert err.line == text[: text.index("[1, }")].count("\n") + 1
    # Line numbers point at each record's first line.
    lines = text.split("\n")
    for line, rec in got:
        assert lines[line - 1].strip() == "{"
        assert rec["url"] in "\n".join(lines[line - 1:line + 2])


def test_long_first_line(tmp_path):
    f = tmp_path / "long.jsonl"
    recs = [{"url": f"https://a.org/{i}.jpg", "exif": {"x": "y" * 9000}} for i in range(3)]
    f.write_text("\n".join(json.dumps(r) for r in recs) + "\n{bad\n")
    errors = []
    assert [line for line, _ in iter_file(f, errors.append)] == [1, 2, 3]
    assert [(e.line, e.message.split(":")[0]) for e in errors] == [(4, "bad JSON")]


def test_gzip_and_empty(tmp_path):
    import gzip

    gz = tmp_path / "feed.jsonl.gz"
    with gzip.open(gz, "wt") as f:
        f.write(json.dumps({"url": "https://a.org/x.jpg"}) + "\n")
    (tmp_path / "empty.json").write_text("")
    errors = []
    assert [r["url"] for _, r in iter_file(gz, errors.append)] == ["https://a.org/x.jpg"]
    assert list(iter_file(tmp_path / "empty.json", errors.append)) == []
    assert errors == []


# --- Near-duplicate index ---------------------------------------------------------------


def planted(n: int, seed: int) -> list[int]:
    """Random hashes plus copies of some of them at 0..12 flipped bits."""
    rnd = random.Random(seed)
    vals = [rnd.getrandbits(64) for _ in range(n)]
    for _ in range(n // 4):
        v = rnd.choice(vals)
        for b in rnd.sample(range(64), rnd.randint(0, 12)):
            v ^= 1 << b
        vals.append(v)
    # Clustered values too: images of one flat colour have hashes near each other.
    base = rnd.getrandbits(64)
    vals += [base ^ (1 << rnd.randrange(64)) ^ (1 << rnd.randrange(64)) for _ in range(60)]
    return list(dict.fromkeys(vals))


@pytest.mark.parametrize("distance", [0, 1, 3, 5, 8, 10, 16])
def test_index_matches_brute_force(distance):
    vals = planted(1200, seed=distance)
    expected = sorted(near_pairs_brute(vals, distance))
    assert sorted(near_pairs_numpy(vals, distance)) == expected
    assert sorted(near_pairs_python(vals, distance)) == expected
    if distance == 8:
        assert len(expected) > 100


@pytest.mark.parametrize("blocks", [3, 4, 5, 9])
def test_index_any_block_count(blocks):
    vals = planted(800, seed=blocks)
    expected = sorted(near_pairs_brute(vals, 8))
    assert sorted(near_pairs_numpy(vals, 8, blocks)) == expected
    assert sorted(near_pairs_python(vals, 8, blocks)) == expected


@pytest.mark.parametrize("impl", [near_pairs_numpy, near_pairs_python])
def test_hamming_threshold_edges(impl):
    base = 0x0123456789ABCDEF
    spread8 = base ^ sum(1 << (8 * b) for b in range(8))  # one bit in each byte
    vals = [
        base,
        spread8,
        spread8 ^ (1 << 63),  # 9 from base, 1 from spread8
        base ^ (0xFF << 56),  # 8 from base, all in the top byte (one block)
        base ^ ((1 << 64) - 1),  # every bit flipped
    ]
    assert [(base ^ v).bit_count() for v in vals] == [0, 8, 9, 8, 64]
    assert sorted(impl(vals, 7)) == [(1, 2)]
    assert sorted(impl(vals, 8)) == [(0, 1), (0, 3), (1, 2)]
    assert sorted(impl(vals, 9)) == [(0, 1), (0, 2), (0, 3), (1, 2)]
    assert sorted(impl(vals, 0)) == []
    assert (0, 4) not in set(impl(vals, 32))
    assert sorted(impl([5, 5 ^ (1 << 63)], 1)) == [(0, 1)]
    assert list(impl([7], 8)) == [] and list(impl([], 8)) == []


@pytest.mark.parametrize("distance", [2, 8, 12])
def test_numpy_search_matches_python_oracle(distance):
    """The shipped search against the pure-Python one it replaced (each with its own plan)."""
    vals = planted(6000, seed=100 + distance)
    assert list(near_pairs_numpy(vals, distance)) == sorted(near_pairs_python(vals, distance))


def test_numpy_batches_match_python_oracle(monkeypatch):
    """Small batches: candidate lists are cut inside buckets and across them."""
    monkeypatch.setattr("imgprint.dupes.mih._BATCH", 1000)
    vals = planted(3000, seed=42)
    assert sorted(near_pairs_numpy(vals, 8, 4)) == sorted(near_pairs_python(vals, 8, 4))


def test_near_groups_same_with_python_oracle(monkeypatch):
    cat = Catalog(site_namer=lambda u: u.split("/")[2])
    for i, v in enumerate(planted(3000, seed=11)):
        cat.add({"url": f"https://s{i % 50}/{i}", "phash": f"{v:016x}"})

    def groups() -> list:
        return [(g.rows, g.center, g.distances) for g in near_groups(cat, 8)]

    expected = groups()
    monkeypatch.setattr("imgprint.dupes.near.near_pairs", near_pairs_python)
    assert expected and groups() == expected


def test_near_groups_chain_and_skip_identical():
    cat = Catalog(site_namer=lambda u: u.split("/")[2])
    add = cat.add
    add({"url": "https://a/1", "phash": "0000000000000000", "content_sha256": C1})
    add({"url": "https://b/1", "phash": "0000000000000000", "content_sha256": C1})
    add({"url": "https://c/1", "phash": "00000000000000ff", "content_sha256": C2})
    add({"url": "https://d/1", "phash": "000000000000ffff"})  # 8 from c, 16 from a
    add({"url": "https://e/1", "phash": "ffffffffffffffff"})
    report = build_report(cat, distance=8)
    [g] = list(report["near"])
    assert [i["url"] for i in g["images"]] == ["https://a/1", "https://b/1", "https://c/1",
                                               "https://d/1"]
    assert g["max_distance"] == 16  # single linkage: d joins through c
    # Identical files alone are an exact group, not a near-duplicate one.
    cat2 = Catalog(site_namer=lambda u: u.split("/")[2])
    cat2.add({"url": "https://a/1", "phash": "0000000000000000", "content_sha256": C1})
    cat2.add({"url": "https://b/1", "phash": "0000000000000001", "content_sha256": C1})
    assert list(build_report(cat2)["near"]) == []


def test_site_names():
    name = dupes.SiteNamer()
    assert name("https://www.example.co.uk/x") == "example.co.uk"
    assert name("http://user:pw@IMG.Example.ORG:8080/x") == "example.org"
    assert name("https://alice.github.io/") == "alice.github.io"
    assert name("http://127.0.0.1:8123/pages/1.html") == "127.0.0.1"
    assert name("http://[::1]:80/") == "[::1]"
    onion = "natural3jytxrhh5wqmpcz67yumyptr7pn2c52hppvn3vanmqzjlkryd.onion"
    assert name(f"http://www.{onion}/a") == onion
    assert name("./test_images/IMG_0589.JPG") == "file:./test_images"
    assert name("nonsense") is None


def test_catalog_keeps_latest_fingerprint_and_all_pages(tmp_path):
    f = tmp_path / "f.jsonl"
    f.write_text("\n".join(json.dumps(r) for r in [
        {"url": "https://i.org/a.jpg", "pages": ["https://p.org/1"], "phash": "00000000000000ff"},
        {"url": "https://i.org/a.jpg", "pages": ["https://q.org/2"], "seen_before": True,
         "phash": "ffffffffffffffff"},
        {"url": "https://i.org/a.jpg", "pages": ["https://r.org/3"],
         "sha256_first_10240_bytes": H2, "phash": "000000000000ffff"},
    ]))
    cat = load([f], pytest.fail)
    assert len(cat) == 1 and cat.records == 3
    assert cat.phash_hex(0) == "000000000000ffff"
    assert cat.hash_hex("sha256_first_10240_bytes", 0) == H2
    assert cat.sites(0) == {"p.org", "q.org", "r.org"}


def test_html_keeps_a_data_marker_in_a_url_as_text(tmp_path):
    """A URL holding the template's own ``%DATA%`` marker stays text in the page."""
    from imgprint.dupes import render_html

    f = tmp_path / "f.jsonl"
    hostile = "https://x onmouseover=alert(1) y/%DATA%.jpg"
    f.write_text("\n".join(json.dumps(r) for r in [
        {"url": hostile, "pages": ["https://x onmouseover=alert(1) y/"],
         "sha256_first_10240_bytes": H1},
        {"url": "https://b.org/x.jpg", "pages": ["https://b.org/"],
         "sha256_first_10240_bytes": H1},
    ]))
    html = render_html(build_report(load([f], pytest.fail)))
    assert "%DATA%.jpg" in html  # the URL as written, not the graph pasted into it
    assert html.count('"nodes"') == 1


# --- PDQ: the 256-bit index and grouping by PDQ, else phash ----------------------------


def planted256(n: int, seed: int, spread: int = 40) -> list[int]:
    """Random 256-bit hashes plus copies at 0..``spread`` flipped bits."""
    rnd = random.Random(seed)
    vals = [rnd.getrandbits(256) for _ in range(n)]
    for _ in range(n // 3):
        v = rnd.choice(vals)
        for b in rnd.sample(range(256), rnd.randint(0, spread)):
            v ^= 1 << b
        vals.append(v)
    return list(dict.fromkeys(vals))


def words256(vals: list[int]):
    return mih.words_of_digests(b"".join(v.to_bytes(32, "big") for v in vals), 32)


def brute(a: list[int], b: list[int], distance: int, same: bool) -> list[tuple[int, int, int]]:
    return sorted((i, j, (x ^ y).bit_count()) for i, x in enumerate(a) for j, y in enumerate(b)
                  if (not same or i < j) and (x ^ y).bit_count() <= distance)


@pytest.mark.parametrize(("distance", "blocks"), [(31, None), (31, 12), (20, 20), (0, None),
                                                  (45, None)])
def test_pdq_index_matches_brute_force(distance, blocks):
    """256 bits as four words; 12 blocks of 21-22 bits straddle the word boundaries."""
    vals = planted256(500, seed=distance)
    pairs, dists = mih.self_pairs(words256(vals), distance, 256, blocks)
    found = list(zip(*pairs.tolist(), dists.tolist(), strict=True))
    assert found == brute(vals, vals, distance, same=True)
    if distance == 31:
        assert len(found) > 50


@pytest.mark.parametrize(("nq", "nt"), [(300, 40), (40, 300)])
def test_cross_pairs_match_brute_force(nq, nt):
    rnd = random.Random(nq)
    table = planted256(nt, seed=7)
    queries = [rnd.choice(table) ^ (1 << rnd.randrange(256)) ^ (1 << rnd.randrange(256))
               for _ in range(nq // 2)] + [rnd.getrandbits(256) for _ in range(nq // 2)]
    for distance in (0, 2, 31):
        pairs, dists = mih.cross_pairs(words256(queries), words256(table), distance, 256)
        found = list(zip(*pairs.tolist(), dists.tolist(), strict=True))
        assert found == brute(queries, table, distance, same=False)
    phashes = [v & ((1 << 64) - 1) for v in queries]
    pairs, dists = mih.cross_pairs(mih.words_of_ints(phashes), mih.words_of_ints(phashes[:10]),
                                   8, 64)
    assert list(zip(*pairs.tolist(), dists.tolist(), strict=True)) == brute(
        phashes, phashes[:10], 8, same=False)


def flipped(value: int, bits: int, seed: int, width: int = 256) -> int:
    for b in random.Random(seed).sample(range(width), bits):
        value ^= 1 << b
    return value


def pdq_feed_catalog(records: list[dict]) -> Catalog:
    cat = Catalog(site_namer=lambda u: u.split("/")[2])
    for rec in records:
        assert cat.add(rec) == []
    return cat


P1, P2 = random.Random(1).getrandbits(256), random.Random(2).getrandbits(256)


def pdq_records() -> list[dict]:
    return [
        # Joined by PDQ (20 bits), although their phash are far apart.
        {"url": "https://a/1", "pdq": f"{P1:064x}", "pdq_quality": 90,
         "phash": "0000ffff0000ffff", "phash_source": "exif_thumbnail", "content_sha256": C1},
        {"url": "https://b/1", "pdq": f"{flipped(P1, 20, 1):064x}", "pdq_quality": 80,
         "phash": "ffffffffffffffff", "phash_source": "progressive_scan"},
        # Identical to a/1 (content_sha256), without any perceptual hash.
        {"url": "https://c/1", "content_sha256": C1},
        # Same phash, PDQ 100 bits apart: PDQ decides, not joined.
        {"url": "https://d/1", "pdq": f"{P2:064x}", "pdq_quality": 90, "phash": "1234123412341234"},
        {"url": "https://e/1", "pdq": f"{flipped(P2, 100, 2):064x}", "pdq_quality": 90,
         "phash": "1234123412341234"},
        # PDQ of quality 30 is not grouped by: its phash joins f to g (phash only).
        {"url": "https://f/1", "pdq": f"{P2:064x}", "pdq_quality": 30, "phash": "00000000ffffff00"},
        {"url": "https://g/1", "phash": "00000000ffffff03"},
        # Same PDQ, quality 30 both: not grouped.
        {"url": "https://h/1", "pdq": f"{P1 ^ 1:064x}", "pdq_quality": 30},
        {"url": "https://i/1", "pdq": f"{P1 ^ 1:064x}", "pdq_quality": 30},
    ]


def test_near_groups_by_pdq_else_phash():
    cat = pdq_feed_catalog(pdq_records())
    report = build_report(cat)
    groups = {tuple(sorted(i["url"][8] for i in g["images"])): g for g in report["near"]}
    assert set(groups) == {("a", "b", "c"), ("f", "g")}
    abc = groups["a", "b", "c"]
    assert abc["by"] == ["content_sha256", "pdq"] and abc["center_hash"] == "pdq"
    assert abc["center"] == f"{P1:064x}" and abc["center_url"] == "https://a/1"
    members = {i["url"]: i for i in abc["images"]}
    assert (members["https://b/1"]["by"], members["https://b/1"]["distance"]) == ("pdq", 20)
    assert members["https://b/1"]["via"] == "https://a/1"
    assert members["https://b/1"]["phash_source"] == "progressive_scan"
    assert members["https://c/1"]["by"] == "content_sha256"
    assert members["https://a/1"]["by"] is None and members["https://a/1"]["pdq_quality"] == 90
    fg = groups["f", "g"]
    assert fg["by"] == ["phash"] and fg["max_distance"] == 2
    assert report["summary"]["pdq_distance"] == 31 and report["summary"]["with_pdq"] == 7
    # A tighter PDQ threshold leaves a/b apart (c still identical to a: no group).
    tight = build_report(pdq_feed_catalog(pdq_records()), pdq_distance=19)
    assert [sorted(i["url"] for i in g["images"]) for g in tight["near"]] == [
        ["https://f/1", "https://g/1"]]


def test_near_groups_phash_only_rows_meet_pdq_rows_by_phash():
    """A row without PDQ joins a row with one by phash; two PDQ rows never do."""
    cat = pdq_feed_catalog([
        {"url": "https://a/1", "pdq": f"{P1:064x}", "phash": "00000000000000ff"},
        {"url": "https://b/1", "phash": "00000000000000fe"},
        {"url": "https://c/1", "pdq": f"{P2:064x}", "phash": "00000000000000fc"},
    ])
    [g] = near_groups(cat, 8)
    assert [cat.urls[i] for i in g.rows] == ["https://a/1", "https://b/1", "https://c/1"]
    assert [b for b in g.by if b] == ["phash", "phash"]
    # a and c meet only through b, the only phash-only row (a, with PDQ, is the centre).
    via = {cat.urls[i]: None if v is None else cat.urls[v]
           for i, v in zip(g.rows, g.via, strict=True)}
    assert via == {"https://a/1": None, "https://b/1": "https://a/1",
                   "https://c/1": "https://b/1"}


def test_pdq_fields_checked(tmp_path):
    f = tmp_path / "f.jsonl"
    f.write_text("\n".join(json.dumps(r) for r in [
        {"url": "https://a/1", "pdq": "xyz"},
        {"url": "https://a/2", "pdq": "ab" * 32, "pdq_quality": 101},
        {"url": "https://a/3", "pdq": "ab" * 32, "pdq_quality": "90"},
    ]) + "\n")
    errors: list = []
    cat = load([f], errors.append)
    assert [str(e) for e in errors] == [f"{f}:1: pdq: not 64 hex digits",
                                        f"{f}:2: pdq_quality: not an integer from 0 to 100",
                                        f"{f}:3: pdq_quality: not an integer from 0 to 100"]
    assert cat.pdq_hex(0) is None and cat.pdq_hex(1) == "ab" * 32 and cat.quality(1) is None


@pytest.mark.crawl
def test_pdq_command(tmp_path):
    f = tmp_path / "f.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in pdq_records()))
    report = json.loads(run_dupes("--json", f).stdout)
    assert sorted(g["count"] for g in report["near"]) == [2, 3]
    assert json.loads(run_dupes("--json", "--pdq-distance", "10", f).stdout)["near"][0][
        "by"] == ["phash"]
    text = run_dupes(f).stdout
    assert "PDQ Hamming distance <= 31 where both have one" in text
    assert "(by content_sha256+pdq), pdq around" in text
    proc = run_dupes("--pdq-distance", "129", f)
    assert proc.returncode == 2 and "--pdq-distance must be between 0 and 128" in proc.stderr


def test_pdq_index_in_small_batches(monkeypatch):
    """Candidates checked a batch and a word pair at a time find the same pairs."""
    monkeypatch.setattr("imgprint.dupes.mih._BATCH", 1000)
    vals = planted256(400, seed=99)
    pairs, dists = mih.self_pairs(words256(vals), 31, 256, 16)
    assert list(zip(*pairs.tolist(), dists.tolist(), strict=True)) == brute(vals, vals, 31,
                                                                            same=True)
