"""Build the container image of the latest bento: `<model_name>:<model version>`.

    python -m scripts.tools.release.containerize [--bento TAG] [--track blue|green]

Uses Docker where a Docker engine answers and buildah otherwise (chroot isolation, layer
cache on). The Dockerfile is BentoML's own; what the project adds goes through bentofile.yaml.
With --track, the overlay deploy/k8s/overlays/<track> is pointed at the new image.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from scripts.pipeline.params import PROJECT_ROOT
from service.errors import UserError

BENTOML = str(Path(sys.executable).parent / "bentoml")


def backend() -> str:
    """Return "docker" when a Docker engine answers, else "buildah" when it is installed."""
    if shutil.which("docker"):
        done = subprocess.run(["docker", "info"], capture_output=True, check=False)
        if done.returncode == 0:
            return "docker"
    if shutil.which("buildah"):
        return "buildah"
    raise UserError("neither a Docker engine nor buildah is available; install one of them")


def bento_model(bento: str) -> tuple[str, str]:
    """Return the full bento tag and the one model version it serves."""
    done = subprocess.run(
        [BENTOML, "get", bento, "-o", "json"], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise UserError(f"no bento {bento!r}; run `make bento` first")
    info = json.loads(done.stdout)
    models = [m["tag"] for service in info["services"] for m in service["models"]]
    if len(models) != 1:
        raise UserError(f"bento {bento} serves {len(models)} models; expected one")
    return f"{info['name']}:{info['version']}", models[0]


def buildah_env() -> dict[str, str]:
    """Return this environment with buildah's settings for a build here, unless already set."""
    env = dict(os.environ)
    # No daemon and no user namespaces in most CI sandboxes; layers make rebuilds quick.
    env.setdefault("BUILDAH_ISOLATION", "chroot")
    env.setdefault("BUILDAH_LAYERS", "true")
    return env


def containerize(bento: str = "model_service:latest") -> tuple[str, float]:
    """Return the image tag built for `bento` and the seconds the build took."""
    bento_tag, model_tag = bento_model(bento)
    chosen = backend()
    env = buildah_env() if chosen == "buildah" else dict(os.environ)
    # BentoML 1.4.40 renders a bento's dockerfile_template from a copy of the bento in a temp
    # folder, then refuses it as "outside of current working directory" unless that folder
    # is under the working directory: keep the copy under build/.
    scratch = PROJECT_ROOT / "build" / "containerize"
    scratch.mkdir(parents=True, exist_ok=True)
    env["TMPDIR"] = str(scratch)
    started = time.perf_counter()
    subprocess.run(
        [BENTOML, "containerize", bento_tag, "--backend", chosen, "-t", model_tag],
        check=True,
        env=env,
        cwd=PROJECT_ROOT,
    )
    return model_tag, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bento", default="model_service:latest", help="bento to containerize")
    parser.add_argument("--track", choices=("blue", "green"), help="point this overlay at it")
    args = parser.parse_args(argv)
    try:
        image, seconds = containerize(args.bento)
        if args.track:
            from scripts.tools.release.set_image import set_image

            name, tag = image.split(":")
            set_image(PROJECT_ROOT / "deploy" / "k8s" / "overlays" / args.track, name, tag=tag)
    except (UserError, subprocess.CalledProcessError) as error:
        print(f"containerize failed: {error}", file=sys.stderr)
        return 1
    print(f"image: {image} (built in {seconds:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
