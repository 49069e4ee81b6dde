"""Print the size of an image built with buildah, layer by layer, and its locked-down start.

    python -m scripts.tools.bench.image [IMAGE] [--starts N]   (default: the newest bento's image)

With --starts (as root, buildah), the image's service and a constant BentoML endpoint in the
same image (scripts/tools/bench/baseline.py mounted beside the service's code) are started in
turns N times each, locked down as in Kubernetes, and the medians of start to /readyz printed.

buildah reports only an image's total; the size of each layer is the uncompressed diff that
containers/storage records for it, matched to the build steps that made a layer (the history
entries that are not empty). A chown or chmod in a layer of its own shows here as a second
copy of every file it touched.
"""

from __future__ import annotations

import argparse
import json
import statistics
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


BASELINE = Path(__file__).with_name("baseline.py")


def start_times(image: str, starts: int) -> dict[str, list[float]]:
    """Return the seconds from start to /readyz 200 of the image's service and of the constant
    endpoint run in the same image, started in turns, one up at a time."""
    from scripts.tools.harness.bento_process import free_port
    from scripts.tools.harness.locked_image import LockedImage

    targets = {
        "the image's service": None,
        "constant BentoML endpoint": "bench_baseline:ConstantService",
    }
    binds = {BASELINE: "/home/bentoml/bento/src/bench_baseline.py"}
    seconds: dict[str, list[float]] = {label: [] for label in targets}
    for _ in range(starts):
        for label, target in targets.items():
            server = LockedImage(
                "buildah",
                image,
                free_port(),
                env={"API_KEYS": "bench-key"},
                target=target,
                binds=binds,
            )
            server.poll_seconds = 0.02
            try:
                server.start()
                seconds[label].append(server.wait_ready())
            finally:
                server.stop()
    return seconds


def _newest_image() -> str:
    from scripts.tools.release.containerize import bento_model

    return bento_model("model_service:latest")[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image", nargs="?", help="image name:tag (default: the newest bento's)")
    parser.add_argument(
        "--starts", type=int, default=0, help="locked-down starts of each, in turns"
    )
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
    if args.starts:
        seconds = start_times(image, args.starts)
        base = statistics.median(seconds["constant BentoML endpoint"])
        print(f"\nstart to /readyz, {args.starts} locked-down starts each, in turns:")
        for label, values in seconds.items():
            median = statistics.median(values)
            print(
                f"  {label:28} median {median:.2f} s ({median / base:.2f}x), "
                f"min {min(values):.2f}, max {max(values):.2f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
