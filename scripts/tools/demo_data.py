"""Write data/house_prices.csv, the regression demo table, the same bytes on every run.

python -m scripts.tools.demo_data [--rows 2000] [--seed 7] [--output data/house_prices.csv]

The table is shaped like the CSVs users bring: numbers and categories, gaps in both, column
names with spaces, a float target (`price`, in thousands). The price is a nonlinear function of
the features plus noise, so a random forest learns it well and a linear model less so.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from service.errors import UserError

ROWS = 2000
SEED = 7
OUTPUT = Path("data/house_prices.csv")
TARGET = "price"

# neighbourhood: (share of houses, price per m² in thousands, typical km to the centre)
NEIGHBOURHOODS = {
    "old town": (0.14, 5.2, 0.8),
    "riverside": (0.18, 4.4, 2.5),
    "university": (0.16, 3.6, 3.0),
    "harbour": (0.12, 3.9, 4.5),
    "suburbs": (0.28, 2.7, 9.0),
    "industrial": (0.12, 2.0, 6.0),
}
# heating: (share of houses, price factor)
HEATING = {
    "gas": (0.42, 1.00),
    "electric": (0.20, 0.93),
    "heat pump": (0.18, 1.12),
    "district": (0.14, 1.04),
    "oil": (0.06, 0.88),
}
AREA_GAPS = 0.03
NEIGHBOURHOOD_GAPS = 0.02


def house_prices(rows: int = ROWS, seed: int = SEED) -> pd.DataFrame:
    """Return `rows` houses drawn with `seed`: features with gaps, and a price with none."""
    if rows < 1:
        raise UserError(f"--rows {rows} makes an empty table; pass --rows N with N >= 1")
    rng = np.random.default_rng(seed)
    names = list(NEIGHBOURHOODS)
    shares, per_m2, typical_km = (np.array(v) for v in zip(*NEIGHBOURHOODS.values(), strict=True))
    where = rng.choice(len(names), rows, p=shares / shares.sum())
    heat_names = list(HEATING)
    heat_shares, heat_factor = (np.array(v) for v in zip(*HEATING.values(), strict=True))
    heat = rng.choice(len(heat_names), rows, p=heat_shares / heat_shares.sum())

    area = np.clip(rng.lognormal(np.log(85), 0.38, rows), 22, 320).round(1)
    rooms = np.clip(np.rint(area / 24 + rng.normal(0.6, 0.7, rows)), 1, 9).astype(int)
    age = np.clip(rng.gamma(2.0, 22.0, rows), 0, 140).astype(int)
    distance = (typical_km[where] * rng.lognormal(0, 0.35, rows)).round(2)

    # Larger homes cost less per m²; distance matters within a neighbourhood too; new builds and
    # old-town period houses carry a premium, the 1960s-80s stock a discount. Each of these bends
    # the price away from a line, which is what keeps a linear model behind the forest.
    value = per_m2[where] * area**0.92
    value *= np.exp(-0.045 * distance)
    value *= 1 + 0.25 * np.exp(-age / 8) - 0.18 * np.exp(-(((age - 50) / 18) ** 2))
    value *= 1 + 0.3 * ((where == names.index("old town")) & (age > 90))
    value *= heat_factor[heat]
    # A room more than the area suggests is a cramped plan, not more space.
    value *= 1 - 0.03 * np.clip(rooms - area / 24, 0, None)
    price = (value * rng.lognormal(0, 0.12, rows)).round(2)

    frame = pd.DataFrame(
        {
            "floor area": area,
            "rooms": rooms,
            "age years": age,
            "distance to centre km": distance,
            "neighbourhood": np.array(names, dtype=object)[where],
            "heating": np.array(heat_names, dtype=object)[heat],
            TARGET: price,
        }
    )
    # The gaps come after the price, so a missing area still has the price the house has.
    frame.loc[_gaps(rng, rows, AREA_GAPS), "floor area"] = np.nan
    frame.loc[_gaps(rng, rows, NEIGHBOURHOOD_GAPS), "neighbourhood"] = None
    return frame


def _gaps(rng: np.random.Generator, rows: int, share: float) -> np.ndarray:
    return rng.choice(rows, round(rows * share), replace=False)


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    """Return `path`, written whole or not at all: a temp file beside it is moved into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # "\n" on every platform, so the committed file is the bytes any machine writes.
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            frame.to_csv(out, index=False, lineterminator="\n")
        # mkstemp makes the file private (0600); give it the mode a plain open() would.
        os.chmod(temp, 0o666 & ~_umask())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=ROWS, help=f"houses to draw (default {ROWS})")
    parser.add_argument("--seed", type=int, default=SEED, help=f"random seed (default {SEED})")
    parser.add_argument(
        "--output", type=Path, default=OUTPUT, help=f"CSV to write (default {OUTPUT})"
    )
    args = parser.parse_args(argv)
    try:
        frame = house_prices(args.rows, args.seed)
        write_csv(frame, args.output)
    except (UserError, OSError) as error:
        print(f"demo_data failed: {error}", file=sys.stderr)
        return 1
    print(f"{args.output}: {len(frame)} rows, {len(frame.columns)} columns")
    return 0


if __name__ == "__main__":
    sys.exit(main())
