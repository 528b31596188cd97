"""The JSON Schema (2020-12) of a feed record: ``record.schema.json``, package data.

``record_schema()`` loads it, for any JSON Schema validator (``jsonschema``,
spidermon's ``JSONSchemaValidator``...): docs/records.md, "Validating a feed".
imgprint does not validate at run time; its tests validate every record they
read (``tests/conftest.py``). A field that other records may carry soon
(``pdq``, ``pdq_quality``) is in the schema already, as optional.
"""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

SCHEMA_FILE = "record.schema.json"


def record_schema() -> dict[str, Any]:
    """The record schema as a dict (read from the package, also inside an egg)."""
    schema: dict[str, Any] = json.loads(
        files(__package__).joinpath(SCHEMA_FILE).read_text(encoding="utf-8"))
    return schema
