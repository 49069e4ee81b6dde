"""Tables with covariate shift, for checking the label-free estimate against the true accuracy.

A shift reweights rows by their features only, so the relation between features and label is
the one the model learned (what CBPE assumes); rows are drawn fresh, never the training rows.
Iris and churn have too few rows for that, so their rows are drawn by a smoothed bootstrap of
the committed CSV (a row picked at random, its numbers jittered by a share of each column's
spread); penguins-like rows come from a generator of their own. Nothing is fetched.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from scripts.pipeline.data import load_table
from scripts.pipeline.params import PROJECT_ROOT


@dataclass(frozen=True)
class ShiftCase:
    """A table to draw from, its target, and where the shift moves one feature's values."""

    name: str
    draw: Callable[[int, np.random.Generator], pd.DataFrame]  # fresh rows, unshifted
    target: str
    feature: str
    center: float  # the shifted rows gather around this value of `feature`...
    width: float  # ...within about this distance


def smoothed_bootstrap(
    table: pd.DataFrame, target: str, jitter: float
) -> Callable[[int, np.random.Generator], pd.DataFrame]:
    """Return a draw of rows picked from `table`, each number moved by Gaussian noise of
    `jitter` times its column's spread."""
    return lambda rows, rng: _jittered(table, target, rows, jitter, rng)


def _jittered(table: pd.DataFrame, target: str, rows: int, jitter: float, rng) -> pd.DataFrame:
    picked = table.iloc[rng.integers(0, len(table), rows)].reset_index(drop=True)
    for name in table.columns:
        if name != target and pd.api.types.is_numeric_dtype(table[name]):
            picked[name] = picked[name] + rng.normal(0, jitter * table[name].std(), rows)
    return picked


def penguins_like(rows: int, rng: np.random.Generator) -> pd.DataFrame:
    """Return a penguins-shaped table: three species, four measures, island and sex, gaps."""
    species = rng.choice(["Adelie", "Chinstrap", "Gentoo"], rows, p=[0.44, 0.2, 0.36])
    means = {  # bill length, bill depth, flipper length, body mass
        "Adelie": (38.8, 18.3, 190.0, 3700.0),
        "Chinstrap": (48.8, 18.4, 196.0, 3730.0),
        "Gentoo": (47.5, 15.0, 217.0, 5080.0),
    }
    spread = np.asarray((3.5, 1.2, 7.0, 460.0))
    centre = np.asarray([means[s] for s in species])
    male = rng.random(rows) < 0.5
    measures = centre + rng.normal(0, 1, (rows, 4)) * spread + np.outer(male, (2, 0.8, 4, 400))
    islands = {
        "Adelie": ["Biscoe", "Dream", "Torgersen"],
        "Chinstrap": ["Dream"],
        "Gentoo": ["Biscoe"],
    }
    island = [rng.choice(islands[s]) if rng.random() < 0.85 else "Dream" for s in species]
    table = pd.DataFrame(
        {
            "island": island,
            "bill_length_mm": measures[:, 0].round(1),
            "bill_depth_mm": measures[:, 1].round(1),
            "flipper_length_mm": measures[:, 2].round(0),
            "body_mass_g": measures[:, 3].round(-1),
            "sex": np.where(male, "male", "female").astype(object),
            "species": species,
        }
    )
    table.loc[rng.choice(rows, rows // 30, replace=False), "sex"] = None
    table.loc[rng.choice(rows, rows // 50, replace=False), "body_mass_g"] = np.nan
    return table


def cases() -> list[ShiftCase]:
    """Return the three tables, each with a shift toward where its classes overlap."""
    iris = pd.read_csv(PROJECT_ROOT / "data" / "iris.csv")
    churn = load_table(PROJECT_ROOT / "data" / "churn.csv", "churned")
    return [
        # Versicolor and virginica meet around 1.6 to 1.8 cm of petal width.
        ShiftCase(
            "iris",
            smoothed_bootstrap(iris, "species", 0.15),
            "species",
            "petal_width_cm",
            1.65,
            0.1,
        ),
        # Churn's 400 rows are jittered more, so neighbouring rows mix their labels as the
        # real customers do; the shift moves tenure to the middle years.
        ShiftCase(
            "churn", smoothed_bootstrap(churn, "churned", 0.5), "churned", "tenure months", 40, 3
        ),
        # Adelie's and chinstrap's bills overlap around 44 mm.
        ShiftCase("penguins-like", penguins_like, "species", "bill_length_mm", 44.0, 0.8),
    ]


def shifted(case: ShiftCase, pool: pd.DataFrame, share: float, rows: int, rng) -> pd.DataFrame:
    """Return `rows` rows of `pool`: `share` of them drawn with the shift, the rest without.

    The shifted ones are drawn with weights that depend on the feature alone (a Gaussian
    window), so each row keeps its label and the features' relation to the label holds.
    """
    moved = int(round(rows * share))
    values = pool[case.feature].to_numpy(dtype=np.float64)
    weights = np.nan_to_num(np.exp(-0.5 * ((values - case.center) / case.width) ** 2))
    picked = np.concatenate(
        [
            rng.choice(len(pool), rows - moved),
            rng.choice(len(pool), moved, p=weights / weights.sum()),
        ]
    )
    return pool.iloc[picked].reset_index(drop=True)
