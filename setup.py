"""Packaging for Scrapyd (``scrapyd-deploy`` builds its egg from this file).

The ``scrapy`` entry point names the settings module, as Scrapyd requires; the
HTML template of ``scrapy dupes`` and the record's JSON Schema are package data.
The ``scrapy.commands`` entry point makes ``scrapy dupes`` available outside the
project directory once the package is installed (``requirements.txt`` installs
it, editable).
"""

from setuptools import find_namespace_packages, setup

setup(
    name="imgprint",
    version="1.0",
    # Namespace packages too: imgprint/fingerprint and imgprint/metadata have no
    # __init__.py, and find_packages would leave them out of Scrapyd's egg.
    packages=find_namespace_packages(include=["imgprint", "imgprint.*"],
                                     exclude=["*.__pycache__"]),
    package_data={"imgprint.dupes": ["report.html.template"],
                  "imgprint.schema": ["record.schema.json"]},
    include_package_data=False,
    zip_safe=False,
    entry_points={
        "scrapy": ["settings = imgprint.settings"],
        "scrapy.commands": ["dupes = imgprint.commands.dupes:Command"],
    },
)
