"""The step-by-step S3 and Scrapyd blocks of docs/operating.md, run as a newcomer
pastes them: every ```sh block of the section, read from the file, in one bash.

They start real servers on the documented fixed ports (moto on 5000, Scrapyd on
6800, the docs folder on 8000), so each section runs in a network namespace of
its own whose only interface is loopback, and a PID namespace that ends every
server it started when the script ends; ``HOME`` is a fresh directory and the
project a copy (``scrapyd-deploy`` writes ``build/`` next to ``setup.py``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import check_records
from tests.helpers import PROJECT

pytestmark = pytest.mark.crawl

DOC = PROJECT / "docs" / "operating.md"


def shell_blocks(markdown: str, heading: str) -> list[str]:
    """The ```sh blocks under ``### heading``, up to the next heading."""
    start = markdown.index(f"\n### {heading}\n")
    end = re.search(r"\n#{1,3} ", markdown[start + 1:])
    section = markdown[start:start + 1 + end.start()] if end else markdown[start:]
    return re.findall(r"^```sh\n(.*?)^```$", section, flags=re.S | re.M)


def run_section(tmp_path: Path, heading: str) -> subprocess.CompletedProcess:
    blocks = shell_blocks(DOC.read_text(), heading)
    assert len(blocks) >= 3, blocks
    project, home = tmp_path / "project", tmp_path / "home"
    home.mkdir()
    project.mkdir()
    for part in ("imgprint", "docs"):
        shutil.copytree(PROJECT / part, project / part,
                        ignore=shutil.ignore_patterns("__pycache__"))
    for part in ("setup.py", "scrapy.cfg", "urls.txt"):
        shutil.copy(PROJECT / part, project)
    (project / ".venv").symlink_to(Path(sys.prefix))  # the README's virtualenv
    script = tmp_path / "doc.sh"
    script.write_text("\n".join(blocks))
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "VIRTUAL_ENV", "SCRAPY_"))}
    env.update(HOME=str(home), PYTHONUNBUFFERED="1")
    argv = ["unshare", "--net", "--mount", "--pid", "--fork", "--mount-proc",
            f"--wd={project}", "--", "bash", "-c", 'ip link set lo up && exec bash -e "$0"',
            str(script)]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)


def feed_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith('{"url": ')]


def test_the_s3_steps_work_as_written(tmp_path):
    assert shutil.which("curl"), "curl: the docs use it (.ci/apt-packages.txt)"
    proc = run_section(tmp_path, "S3 on this machine, step by step")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "feed: s3://crawls/run1/images.jsonl" in proc.stderr
    records = feed_lines(proc.stdout)  # printed from the bucket
    check_records(records, "the S3 object")
    record = {r["url"]: r for r in records}["http://127.0.0.1:8000/dupes-report.png"]
    assert record["pages"] == ["http://127.0.0.1:8000/"] and record["http_status"] == 206
    assert record["sha256_first_10240_bytes"] and record["content_sha256"]
    assert "botocore" not in proc.stderr  # its INFO lines, one pair per S3 client


def test_the_scrapyd_steps_work_as_written(tmp_path):
    assert shutil.which("curl"), "curl: the docs use it (.ci/apt-packages.txt)"
    proc = run_section(tmp_path, "Scrapyd on this machine, step by step")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert '"status": "ok"' in out and '"spiders": 1' in out  # deployed
    records = feed_lines(out)  # the job's items over Scrapyd's HTTP API
    check_records(records, "the job's items")
    record = {r["url"]: r for r in records}["http://127.0.0.1:8000/dupes-report.png"]
    assert record["pages"] == ["http://127.0.0.1:8000/"] and record["http_status"] == 206
    assert "[imgprint.summary] INFO: Summary:" in out  # the job log's tail
    assert f"{len(records)} image{'s' if len(records) > 1 else ''} recorded" in out
