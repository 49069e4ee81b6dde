"""The bento's serving requirements for one model version: only the extras that version needs.

    python -m scripts.tools.release.requirements [--output build/requirements.txt]

Reads the version `bentoml build` will pack (MODEL_TAG, else the champion; CANDIDATE_MODEL_TAG
too when set) and the engines VALIDATION_ENGINE and PREDICTION_ENGINE ask for, says which
optional libraries go in and why, and writes the pins from uv.lock with `uv export`.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from scripts.pipeline.params import PROJECT_ROOT
from service.errors import UserError
from service.model.store import load_model_version
from service.runtime import serving_needs
from service.scoring.libraries import OPTIONAL, Need
from service.settings import Settings

OUTPUT = PROJECT_ROOT / "build" / "requirements.txt"
UV = Path(sys.executable).parent / "uv"


def decide() -> list[Need]:
    """Return one Need per optional library, needed when any version the bento packs needs it."""
    settings = Settings.from_env()
    tags = [settings.model_tag] + ([settings.candidate.tag] if settings.candidate else [])
    versions = [load_model_version(tag) for tag in tags]
    decided = []
    for position, library in enumerate(OPTIONAL):
        per_version = [serving_needs(version, settings)[position] for version in versions]
        wanted = [need for need in per_version if need.needed]
        reasons = "; ".join(
            f"{v.tag}: {n.reason}" for v, n in zip(versions, per_version, strict=True)
        )
        decided.append(Need(library, bool(wanted), reasons))
    return decided


def export(extras: list[str], output: Path) -> None:
    """Give nothing; write the serving pins of uv.lock with `extras` to `output`, all at once."""
    uv = str(UV) if UV.exists() else "uv"
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_suffix(".partial")
    command = [uv, "export", "--frozen", "--no-default-groups", "--no-hashes", "--no-emit-project"]
    command += [arg for extra in extras for arg in ("--extra", extra)]
    subprocess.run(
        [*command, "--quiet", "-o", str(partial)], check=True, cwd=PROJECT_ROOT, timeout=120
    )
    partial.replace(output)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=OUTPUT, help="requirements file to write")
    args = parser.parse_args(argv)
    try:
        decided = decide()
        export([need.library.extra for need in decided if need.needed], args.output)
    except (UserError, subprocess.CalledProcessError) as error:
        print(f"serving requirements failed: {error}", file=sys.stderr)
        return 1
    for need in decided:
        verdict = "included" if need.needed else "left out"
        print(f"bento: {need.library.name} {verdict} [{need.library.extra}] ({need.reason})")
    pins = sum(1 for line in args.output.read_text().splitlines() if "==" in line)
    print(f"bento: {pins} pinned serving packages in {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
