"""Benchmarks: not part of CI; type-checked with the package (``mypy``).

Run each from the project root as a module, so that this checkout's imgprint
is the one imported (an editable install of another checkout would win over a
script's directory): ``.venv/bin/python -m bench.metadata_compare``. They
import nothing from tests/; what several share (the corpus, a static server, a
crawl) is ``bench.harness``.
"""
