"""Print the size of an image built with buildah, layer by layer, with the step that made each.

    python -m scripts.tools.bench.image [IMAGE]     (default: the newest bento's image)

buildah reports only an image's total; the size of each layer is the uncompressed diff that
containers/storage records for it, matched to the build steps that made a layer (the history
entries that are not empty). A chown or chmod in a layer of its own shows here as a second
copy of every file it touched.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from service.errors import UserError


@dataclass(frozen=True)
class Layer:
    megabytes: float  # uncompressed, as it lands on a node's disk
    command: str  # the build step that made it


def _json(*args: str) -> dict:
    done = subprocess.run(["buildah", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise UserError(f"`buildah {' '.join(args)}` failed: {done.stderr.strip()}")
    return json.loads(done.stdout)


def image_layers(image: str) -> list[Layer]:
    """Return the layers of `image`, base first, each with its size and the step that made it."""
    info = _json("inspect", "--type", "image", image)
    store = _json("info")["store"]
    if store["GraphDriverName"] != "overlay":
        raise UserError(
            f"layer sizes are read for the overlay driver, not {store['GraphDriverName']}"
        )
    root = Path(store["GraphRoot"])
    images = json.loads((root / "overlay-images" / "images.json").read_text())
    layers = {
        item["id"]: item
        for item in json.loads((root / "overlay-layers" / "layers.json").read_text())
    }
    top = next(item["layer"] for item in images if item["id"] == info["FromImageID"])
    chain = []
    while top:
        chain.append(layers[top])
        top = layers[top].get("parent")
    chain.reverse()
    steps = [
        entry.get("created_by", "")
        for entry in info["OCIv1"].get("history", [])
        if not entry.get("empty_layer")
    ]
    # A RUN's entry opens with its build arguments ("|5 BENTO_USER=... /bin/sh -c CMD").
    steps = [step.split("/bin/sh -c ", 1)[-1] if step.startswith("|") else step for step in steps]
    if len(steps) != len(chain):
        steps = ["?"] * len(chain)
    return [
        Layer(layer.get("diff-size", 0) / 1e6, " ".join(step.split()))
        for layer, step in zip(chain, steps, strict=True)
    ]


def _newest_image() -> str:
    from scripts.tools.release.containerize import bento_model

    return bento_model("model_service:latest")[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image", nargs="?", help="image name:tag (default: the newest bento's)")
    args = parser.parse_args(argv)
    try:
        image = args.image or _newest_image()
        layers = image_layers(image)
    except UserError as error:
        print(f"image sizes failed: {error}", file=sys.stderr)
        return 1
    print(f"{image}: {sum(layer.megabytes for layer in layers):.1f} MB in {len(layers)} layers")
    print(f"{'MB':>8}  step")
    for layer in layers:
        print(f"{layer.megabytes:8.1f}  {layer.command[:110]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
