"""Datasets the tests make themselves, shaped like the CSVs users bring."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def mixed_frame(rows: int = 400, seed: int = 0) -> pd.DataFrame:
    """Return a binary task with integer labels, numeric and categorical columns, and gaps in both."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 80, rows).astype(float)
    income = rng.normal(50_000, 15_000, rows).round(2)
    city = rng.choice(["north", "south", "east", "west"], rows)
    plan = rng.choice(["basic", "pro"], rows)
    score = (age - 45) / 15 + (income - 50_000) / 15_000 + (plan == "pro") * 1.5 + (city == "east")
    label = (score + rng.normal(0, 0.5, rows) > 0.5).astype(int)
    frame = pd.DataFrame(
        {"age": age, "income (usd)": income, "city": city, "plan": plan, "churned": label}
    )
    frame.loc[rng.choice(rows, rows // 10, replace=False), "age"] = np.nan
    frame["city"] = frame["city"].astype(object)
    frame.loc[rng.choice(rows, rows // 10, replace=False), "city"] = None
    return frame


def mixed_multiclass_frame(rows: int = 400, seed: int = 0) -> pd.DataFrame:
    """Return `mixed_frame` with three string classes in `churned`: stays, leaves, asks."""
    frame = mixed_frame(rows, seed)
    grade = frame["churned"] + (frame["plan"] == "pro")
    return frame.assign(churned=np.array(["stays", "leaves", "asks"])[grade.to_numpy()])


def write_mixed_csv(path: Path, rows: int = 400, seed: int = 0) -> Path:
    mixed_frame(rows, seed).to_csv(path, index=False)
    return path


# Overrides that point the pipeline at the mixed CSV: nothing else changes.
def mixed_overrides(csv: Path, model_name: str = "churn") -> list[str]:
    return [
        "-p",
        f"data_path={csv}",
        "-p",
        "target=churned",
        "-p",
        f"model_name={model_name}",
        "-p",
        "min_accuracy=0.7",
        "-p",
        "min_f1_macro=0.7",
        "-p",
        "min_roc_auc=0.75",
    ]
