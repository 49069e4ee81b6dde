"""Building a bento the way `make bento` does, for one model version."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BENTOML = Path(sys.executable).parent / "bentoml"


def build_bento(model_tag: str) -> str:
    """Return the tag of a bento built for `model_tag`, with the pinned serving requirements."""
    subprocess.run(["make", "build/requirements.txt"], check=True, capture_output=True)
    built = subprocess.run(
        [BENTOML, "build", "--output", "tag"],
        env={**os.environ, "MODEL_TAG": model_tag},
        capture_output=True,
        text=True,
        check=True,
    )
    return built.stdout.strip().rsplit("__tag__:", 1)[-1]
