"""The fingerprints: seed-compatible hash and sample, perceptual hash.

A regular package (not a namespace one): Scrapyd runs imgprint from a zipped
egg, and zipimport does not import namespace packages (setup.py).
"""
