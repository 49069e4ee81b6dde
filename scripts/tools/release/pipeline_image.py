"""Build the pipeline image the CronJobs run: `<model_name>-pipeline:<tag>` with buildah.

    python -m scripts.tools.release.pipeline_image [--tag TAG] [--jobs]   (make pipeline-image)

Stages only what the pipeline reads (the notebooks, scripts/, service/, params.yaml,
expectations/, the data files, pyproject.toml and uv.lock) into a temporary folder outside the
project and builds deploy/image/Dockerfile.pipeline from it. Outside, because bentofile.yaml's
`include` patterns match at any depth: a staged copy under the project would go into the next
bento. The install step mounts this machine's uv and its
cache, so the locked packages come from the cache `make setup` filled and neither stays in the
image. The tag defaults to the hash of the staged files: the same sources give the same tag.
With --jobs, deploy/k8s/jobs is pointed at the new image.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scripts.pipeline.params import PROJECT_ROOT
from scripts.tools.release.containerize import buildah_env
from service.errors import UserError

DOCKERFILE = PROJECT_ROOT / "deploy" / "image" / "Dockerfile.pipeline"
JOBS = PROJECT_ROOT / "deploy" / "k8s" / "jobs"
PLACEHOLDER = "model-pipeline"  # the image the CronJobs name until set_image writes one
# What the pipeline reads at run time, relative to the project root: files and whole folders.
SOURCES = ("pyproject.toml", "uv.lock", "params.yaml", "notebooks", "scripts", "service")
SOURCE_GLOBS = ("expectations/*.json", "data/*.csv")
# Packages of the pipeline group no job runs, each depended on only by the others here or by
# what imports it only when found (`uv tree --invert --package NAME`). First JupyterLab and the
# server only it brings: `make lab` on a laptop, never a job.
LEAVE_OUT = (
    "jupyterlab",
    "jupyterlab-server",
    "jupyter-lsp",
    "jupyter-server",
    "jupyter-server-terminals",
    "jupyter-events",
    "jupyter-builder",
    "notebook-shim",
    "terminado",
    "argon2-cffi",
    "argon2-cffi-bindings",
    "send2trash",
    "async-lru",
    "json5",
    "babel",
    "overrides",
    "websocket-client",
    # The kernel's debugger and IPython's completion (55 MB): a papermill run uses neither, and
    # both import them only when found (ipykernel's _is_debugpy_available, IPython's
    # JEDI_INSTALLED).
    "debugpy",
    "jedi",
    "parso",
)
# pyarrow (163 MB) stays: notebook 03 scores the held-out file through the batch path.


def _uv() -> Path:
    found = Path(sys.executable).with_name("uv")
    if found.exists():
        return found
    which = shutil.which("uv")
    if which is None:
        raise UserError("uv is not installed; run `make setup`")
    return Path(which)


def _uv_cache(uv: Path) -> Path:
    done = subprocess.run([str(uv), "cache", "dir"], capture_output=True, text=True, check=True)
    cache = Path(done.stdout.strip())
    cache.mkdir(parents=True, exist_ok=True)
    return cache


def stage(context: Path) -> str:
    """Return the hash of the files copied into the empty folder `context`: the build's input."""
    context.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints")
    for name in SOURCES:
        source = PROJECT_ROOT / name
        if source.is_dir():
            shutil.copytree(source, context / name, ignore=ignore)
        else:
            shutil.copy2(source, context / name)
    for pattern in SOURCE_GLOBS:
        for source in sorted(PROJECT_ROOT.glob(pattern)):
            (context / source.parent.name).mkdir(exist_ok=True)
            shutil.copy2(source, context / source.parent.name / source.name)
    digest = hashlib.sha256()
    for path in sorted(p for p in context.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(context)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def image_name() -> str:
    """Return the image's repository: params.yaml's model_name with `-pipeline`."""
    from scripts.pipeline.params import PARAMS_YAML, load_params

    return f"{load_params(PARAMS_YAML)['model_name']}-pipeline"


def build(tag: str | None = None) -> tuple[str, float]:
    """Return the image built (`name:tag`) and the seconds the build took."""
    if shutil.which("buildah") is None:
        raise UserError("buildah is not installed; apt-get install buildah")
    uv = _uv()
    with tempfile.TemporaryDirectory(prefix="pipeline-image-", dir="/var/tmp") as context:
        digest = stage(Path(context))
        image = f"{image_name()}:{tag or digest}"
        started = time.perf_counter()
        subprocess.run(
            ["buildah", "build", "-f", str(DOCKERFILE), "-t", image]
            + ["--build-arg", f"UV_LEAVE_OUT={' '.join(LEAVE_OUT)}"]
            + ["--volume", f"{uv.parent}:/opt/uv:ro"]
            + ["--volume", f"{_uv_cache(uv)}:/var/cache/uv", context],
            check=True,
            env=buildah_env(),
        )
    return image, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tag", help="image tag (default: the hash of the staged sources)")
    parser.add_argument("--jobs", action="store_true", help="point deploy/k8s/jobs at it")
    args = parser.parse_args(argv)
    try:
        image, seconds = build(args.tag)
        if args.jobs:
            from scripts.tools.release.set_image import set_image

            name, tag = image.split(":")
            set_image(JOBS, name, tag=tag, placeholder=PLACEHOLDER)
    except (UserError, subprocess.CalledProcessError) as error:
        print(f"pipeline image failed: {error}", file=sys.stderr)
        return 1
    print(f"image: {image} (built in {seconds:.1f} s)")
    from scripts.tools.bench import image as sizes

    return sizes.main([image])  # its size, layer by layer


if __name__ == "__main__":
    sys.exit(main())
