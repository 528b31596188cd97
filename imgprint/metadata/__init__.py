"""Metadata from the bytes held: EXIF, XMP, IPTC, ICC, text blocks, summary.

A regular package (not a namespace one): Scrapyd runs imgprint from a zipped
egg, and zipimport does not import namespace packages (setup.py).
"""
