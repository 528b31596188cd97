"""The imgprint package: ``pip install .``, a wheel, and Scrapyd's egg.

* ``install_requires``: the pinned runtime dependencies of requirements.txt,
  the versions imgprint is tested with (``-e .`` and options are skipped);
* package data: the HTML template of ``scrapy dupes`` and the record's JSON
  schema (``imgprint/schema/*.json``, when present);
* entry points: ``scrapy.commands`` makes ``scrapy dupes`` a command of every
  Scrapy project the package is installed in; ``scrapy`` names this
  project's settings module, as Scrapyd requires (``scrapyd-deploy`` builds
  its egg from this file).

In another project, imgprint is an add-on (``ADDONS = {"imgprint.Addon":
500}``, docs/addon.md).
"""

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).resolve().parent


def requirements(path: Path) -> list[str]:
    """The requirement lines of a pip requirements file, comments and options
    dropped. None without the file: an egg built from the package and this file
    alone (Scrapyd's environment installs requirements.txt itself)."""
    found: list[str] = []
    if not path.exists():
        return found
    for line in path.read_text().splitlines():
        line = line.split(" #", 1)[0].strip()
        if line and not line.startswith(("#", "-")):
            found.append(line)
    return found


setup(
    name="imgprint",
    version="1.0",
    description="Image fingerprints and metadata from a few ranged requests, for Scrapy",
    python_requires=">=3.11",
    # Every directory of imgprint is a regular package (an __init__.py): an egg is
    # a zip, and zipimport does not import namespace packages.
    packages=find_packages(include=["imgprint", "imgprint.*"]),
    package_data={"imgprint": ["dupes/report.html.template", "schema/*.json"]},
    include_package_data=False,
    install_requires=requirements(HERE / "requirements.txt"),
    zip_safe=False,
    entry_points={
        "scrapy": ["settings = imgprint.settings"],
        "scrapy.commands": ["dupes = imgprint.commands.dupes:Command"],
    },
)
