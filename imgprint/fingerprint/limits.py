"""Limits of the perceptual hash that the fetch path and the pipeline need
without importing the decoder (numpy and Pillow load on the first phash, on a
worker thread, not at start-up)."""

#: Largest thumbnail decoded (and fetched): EXIF in JPEG lives in one APP1
#: segment, so a real thumbnail is always smaller.
MAX_THUMBNAIL_BYTES = 65536
#: Seconds the pipeline lets a phash take.
TIME_LIMIT = 2.0
