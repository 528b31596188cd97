"""imgprint's PDQ (imgprint/fingerprint/pdq.py) against ThreatExchange's
published reference hashes of its sample images.

ThreatExchange's ``pdq/data`` images are not in this repository; point the
script at a copy of that folder (a checkout of facebook/ThreatExchange):

    .venv/bin/python bench/pdq_reference.py ~/src/ThreatExchange/pdq/data

For each image it prints the distance to the hash ThreatExchange publishes for
it, from two of its implementations: the pure-Python hasher's test vectors
(``pdq/python/pdqhashing/tests/pdq_test.py``: a 512 px thumbnail first) and the
C++ core compiled to WebAssembly (``pdq/wasm/test/TestData/PDQMD5TestData.csv``),
and, where the ``pdqhash`` package is installed (requirements-dev.txt), the
distance to the C++ core run over the whole image as python-threatexchange runs
it. PDQ's README calls an implementation correct when its hashes of quality
>= 80 are within distance 10 of the reference's.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from imgprint.fingerprint.pdq import pdq_distance, pdq_hash  # noqa: E402

#: pdq/python/pdqhashing/tests/pdq_test.py (ThreatExchange main, 2025).
PYTHON_VECTORS = {
    "misc-images/c.png": "e64cc9d91e623842f8d1f1d9a398e78c9f199a3bd87924f2b7e11e0bf061b064",
    "misc-images/small.jpg": "0007001f003f003f007f00ff00ff00ff01ff01ff01ff03ff03ff03ff03ff03ff",
    "misc-images/wee.jpg": "6227401f601ff4ccafcc9fad4b0d95d371a2eb7265a3285234d228ca94deeb2d",
    "reg-test-input/labelme-subset/q0003.jpg":
        "54a977c221d14c1c43ba5e6e21d4a13989a3553f1462611cbb85fda7be83b677",
    "reg-test-input/labelme-subset/q0004.jpg":
        "992d44af36d69e6ca6b812585928bac11def254ef5398c6d07466c9abcc65b92",
    "reg-test-input/labelme-subset/q0122.jpg":
        "cfb2009ddd21c6dab0046a7745b5984757a8a4535b3377aea2591d32b33ff940",
    "reg-test-input/labelme-subset/q0291.jpg":
        "a0fe94f1e5cc1cc8dd855948498dc9243f7ca27336f036d7f212b74bc103c9a7",
    "reg-test-input/labelme-subset/q0746.jpg":
        "1049d96239e24d4dca2c55512b8bdb77425f4dbcf575a0a95555aaab5554aaaa",
    "reg-test-input/labelme-subset/q1050.jpg":
        "489db672e9190276d452aeab41eba20f02375fe4092d88defdf491a5c55c5f70",
    "reg-test-input/labelme-subset/q2821.jpg":
        "b150231ffae4710ffcf4f18bb574b109a576f14bb8543189f8743289f174b109",
    "reg-test-input/dih/bridge-1-original.jpg":
        "d8f8f0cce0f4a84f0e370a22028f67f0b36e2ed596623e1d33e6b39c4e9c9b22",
    "reg-test-input/dih/bridge-2-rotate-90.jpg":
        "38a50efd71c83f429013d68d0ffffc52e34e0e15ada952a9d29684214aa9e5af",
    "reg-test-input/dih/bridge-3-rotate-180.jpg":
        "2dadda64b5a142e5d362209057da895ae63b8c7fc277b4b766b319361f893188",
    "reg-test-input/dih/bridge-4-rotate-270.jpg":
        "a5f0a457248995e8c9065c275aaa54d8b61ba4bdf8fcfc0387c32f8b0bfc4f05",
    "reg-test-input/dih/bridge-5-flipx.jpg":
        "d8f80f31e0f417b00e37f5dd028f980fb36ed12a9662c1e233e64c634e9c64dd",
    "reg-test-input/dih/bridge-6-flipy.jpg":
        "0dad259bb1a1bd18d362576556da32a1e63b7380c2374b4866b3c6c91b89ce77",
    "reg-test-input/dih/bridge-7-flip-plus-1.jpg":
        "f0a5e10271dcc0bd9c5309720fff018de34ef1e8ada9a956d2967ade1ea91a50",
    "reg-test-input/dih/bridge-8-flip-minus-1.jpg":
        "69f05aa8a4996a17c146a2da5aaaab07b61b5b60f8fc07fc83c3d0740bfcb0fa",
}
#: pdq/wasm/test/TestData/PDQMD5TestData.csv (the C++ core as WebAssembly).
WASM_VECTORS = {
    "misc-images/c.png": "e4cc89d91c623842f8d1f1d9a398e78c9f199a3bf87925f2b7e11e0bf061b064",
    "misc-images/small.jpg": "0007001f003f003f007f00ff00ff00ff01ff01ff01ff03ff03ff03ff03ff03ff",
    "misc-images/wee.jpg": "6227401f601ff4ccafcc9fad4b0d95d371a2eb7265a3285234d228ca94deeb2d",
    "bridge-mods/aaa-orig.jpg": "d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22",
    "bridge-mods/blur-a-little.jpg":
        "d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22",
    "bridge-mods/blur-a-lot.jpg":
        "d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22",
    "bridge-mods/high-contrast.jpg":
        "d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22",
    "bridge-mods/high-saturation.jpg":
        "d8f8f0cee0f4a84f0637022a038f67f0b36e2ed596631e1d33e6339c4e9c9b22",
    "bridge-mods/sharpen-a-little.jpg":
        "d8f8f0cee0f4a84f0e370222038f67f0b36e2ed596231e1d33e6b39c4e9c9b22",
    "bridge-mods/sharpen-a-lot.jpg":
        "d0f8f0cec0f4a84f0e370a22338f67f0b36a2ef596231e1d72e6a39c4e9c9b22",
    "bridge-mods/shrink-a-little.jpg":
        "d8f8f0cee0f4a84f0e370a22038f67f0b36e2ed596621e1d33e6339c4e9c9b22",
    "bridge-mods/shrink-a-lot.jpg":
        "d0f8f1ccc0f4a84d0a370a3a228f67f0b36e2ed5b6623e1d33e6339c4e9c9b22",
    "bridge-mods/square-128x128.jpg":
        "d8f8f1eec0f4a84f0e37022a078f63f0b36e2ed596621e1d33e6239c4e9c9b22",
    "bridge-mods/square-256x256.jpg":
        "d8f8f0cec4f4a84f0637022a078f67f0b36e2ee5b6621e1d33e6239c4e9c9b22",
    "bridge-mods/square-512x512.jpg":
        "d8f8f0cec0f4a84f0637022a278f67f0b36e2ed596621e1d33e6339c4e9c9b22",
}


def core_hash(image: Image.Image) -> str | None:
    """The C++ core via pdqhash on the whole image, or None without pdqhash."""
    try:
        import numpy
        import pdqhash  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    bits, _ = pdqhash.compute(numpy.ascontiguousarray(numpy.asarray(image.convert("RGB"))))
    return f"{int(''.join(map(str, bits)), 2):064x}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help="ThreatExchange's pdq/data folder")
    args = parser.parse_args()
    worst: dict[str, int] = {}
    print(f"{'image':44} {'size':>10} {'q':>3}  published  C++ core (pdqhash)")
    for name, table in (("python", PYTHON_VECTORS), ("wasm", WASM_VECTORS)):
        print(f"-- {name} vectors")
        for path, published in table.items():
            with Image.open(args.data / path) as image:
                image.load()
                ours, quality = pdq_hash(image)
                core = core_hash(image)
                size = f"{image.size[0]}x{image.size[1]}"
            distance = pdq_distance(ours, published)
            if quality >= 80:
                worst[name] = max(worst.get(name, 0), distance)
            core_text = "-" if core is None else str(pdq_distance(ours, core))
            print(f"{path:44} {size:>10} {quality:3d}  {distance:9d}  {core_text}")
    for name, distance in worst.items():
        print(f"largest distance to the {name} vectors at quality >= 80: {distance}"
              f" ({'within' if distance <= 10 else 'over'} the README's 10)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
