"""Packaging for Scrapyd (``scrapyd-deploy`` builds its egg from this file).

The ``scrapy`` entry point names the settings module, as Scrapyd requires; the
HTML template of ``scrapy dupes`` and the record's JSON Schema are package data.
The ``scrapy.commands`` entry point makes ``scrapy dupes`` available outside the
project directory once the package is installed (``requirements.txt`` installs
it, editable).
"""

from setuptools import find_packages, setup

setup(
    name="imgprint",
    version="1.0",
    # Every directory of imgprint is a regular package (an __init__.py): an egg is
    # a zip, and zipimport does not import namespace packages.
    packages=find_packages(include=["imgprint", "imgprint.*"]),
    package_data={"imgprint.dupes": ["report.html.template"],
                  "imgprint.schema": ["record.schema.json"]},
    include_package_data=False,
    zip_safe=False,
    entry_points={
        "scrapy": ["settings = imgprint.settings"],
        "scrapy.commands": ["dupes = imgprint.commands.dupes:Command"],
    },
)
