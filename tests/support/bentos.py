"""Building a bento the way `make bento` does, for one model version."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


def build_bento(model_tag: str, env: dict[str, str] | None = None) -> str:
    """Return the tag of a bento built for `model_tag`, with the serving requirements that
    version needs (`env` adds settings such as PREDICTION_ENGINE=sklearn)."""
    env = {**os.environ, "MODEL_TAG": model_tag, **(env or {})}
    subprocess.run(
        [BIN / "python", "-m", "scripts.tools.release.requirements"],
        env=env,
        capture_output=True,
        check=True,
    )
    built = subprocess.run(
        [BIN / "bentoml", "build", "--output", "tag"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return built.stdout.strip().rsplit("__tag__:", 1)[-1]
