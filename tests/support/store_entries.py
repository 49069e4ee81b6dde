"""A small model store entry: metadata and files enough for the store, without training."""

from __future__ import annotations

import json
from pathlib import Path

from service.model.version import ModelMetadata

METADATA = ModelMetadata(
    serving_format="skops",
    onnx={"converted": False, "error": "not tried"},
    skops_trusted=[],
    classes=["a", "b"],
    metrics={"accuracy": 0.9},
    run_id="run",
    git_commit="unknown",
    data_sha256="0" * 64,
    validation_parity={"agree": True},
)


def staging_folder(tmp_path: Path) -> Path:
    """Return a folder of two files to store as a version."""
    staging = tmp_path / "staging"
    staging.mkdir(parents=True)
    (staging / "a.json").write_text(json.dumps({"x": 1}))
    (staging / "b.bin").write_bytes(b"\x00\x01")
    return staging
