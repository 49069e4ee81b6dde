"""Test support: a model version whose suite holds an expectation only GX can check."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from service.model.store import load_model_version, save_model_version
from service.model.version import SUITE_FILE, version_labels

# Not compiled (service/validation/spec.py): the service hands it to Great Expectations on every
# request. Any iris row passes it.
GX_ONLY = {
    "type": "expect_column_mean_to_be_between",
    "kwargs": {"column": "sepal_length_cm", "min_value": 0, "max_value": 100},
    "meta": {"source": "a test: a rule the compiled checks hand to GX"},
}


def save_gx_version(tag: str, staging: Path) -> str:
    """Return the tag of a new version: `tag`'s files, its suite with GX_ONLY added."""
    version = load_model_version(tag)
    shutil.copytree(version.path, staging)
    (staging / "model.yaml").unlink(missing_ok=True)  # BentoML's manifest, written anew
    suite = json.loads((staging / SUITE_FILE).read_text())
    suite["expectations"].append(GX_ONLY)
    (staging / SUITE_FILE).write_text(json.dumps(suite))
    name = tag.split(":")[0]
    return save_model_version(
        name, staging, version.metadata, version_labels("random_forest", "gx-version")
    )
