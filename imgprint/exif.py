"""Temporary: moved to imgprint.metadata.exif (removed once formats/ imports it)."""

from imgprint.metadata.exif import *  # noqa: F403
from imgprint.metadata.exif import ExifError, tag_strings  # noqa: F401
