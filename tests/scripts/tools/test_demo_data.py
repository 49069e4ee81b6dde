import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.ensemble import RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from scripts.pipeline.params import PROJECT_ROOT
from scripts.tools.demo_data import OUTPUT, ROWS, SEED, TARGET, house_prices, main, write_csv
from service.errors import UserError

COMMITTED = PROJECT_ROOT / OUTPUT


@pytest.fixture(scope="module")
def committed() -> pd.DataFrame:
    return pd.read_csv(COMMITTED)


def test_the_committed_csv_is_what_the_default_arguments_write(tmp_path):
    written = write_csv(house_prices(ROWS, SEED), tmp_path / "house_prices.csv")
    assert written.read_bytes() == COMMITTED.read_bytes(), (
        f"{OUTPUT} differs from what the generator writes; "
        "rerun python -m scripts.tools.demo_data and commit the result"
    )


def test_the_table_has_categories_gaps_a_spaced_name_and_a_float_target(committed):
    assert len(committed) == ROWS
    assert "floor area" in committed.columns and "distance to centre km" in committed.columns
    assert committed.columns[-1] == TARGET
    categorical = committed.select_dtypes(exclude="number").columns
    assert sorted(categorical) == ["heating", "neighbourhood"]
    assert 5 <= committed["neighbourhood"].nunique() <= 6
    assert {"gas", "electric", "heat pump"} <= set(committed["heating"])
    assert 0.02 <= committed["floor area"].isna().mean() <= 0.04
    assert 0.01 <= committed["neighbourhood"].isna().mean() <= 0.03
    assert committed["rooms"].dtype.kind == "i" and committed["age years"].dtype.kind == "i"
    price = committed[TARGET]
    assert price.dtype.kind == "f" and price.notna().all() and (price > 0).all()
    assert price.nunique() > 0.9 * ROWS
    assert (price.round(2) == price).all()


def test_another_seed_draws_other_houses():
    first, other = house_prices(200, SEED), house_prices(200, SEED + 1)
    assert house_prices(200, SEED).equals(first)
    assert not np.allclose(first[TARGET], other[TARGET])


def test_a_random_forest_learns_the_price(committed):
    features, price = committed.drop(columns=TARGET), committed[TARGET]
    categorical = ["neighbourhood", "heating"]
    numeric = [c for c in features.columns if c not in categorical]
    model = make_pipeline(
        make_column_transformer(
            (SimpleImputer(strategy="median"), numeric),
            (
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value=""),
                    OneHotEncoder(handle_unknown="ignore"),
                ),
                categorical,
            ),
        ),
        RandomForestRegressor(n_estimators=20, random_state=0),
    )
    train_x, test_x, train_y, test_y = train_test_split(
        features, price, test_size=0.25, random_state=0
    )
    r2 = model.fit(train_x, train_y).score(test_x, test_y)
    assert r2 > 0.6, f"held-out R² {r2:.3f}: the demo is too noisy to learn"


def test_main_writes_the_csv_and_says_where(tmp_path, capsys):
    output = tmp_path / "new" / "houses.csv"
    assert main(["--rows", "50", "--seed", "3", "--output", str(output)]) == 0
    assert capsys.readouterr().out == f"{output}: 50 rows, 7 columns\n"
    assert pd.read_csv(output).shape == (50, 7)
    assert [p.name for p in output.parent.iterdir()] == ["houses.csv"]


def test_an_interrupted_write_leaves_the_old_file_and_no_temp_file(tmp_path, monkeypatch):
    output = tmp_path / "houses.csv"
    output.write_text("old\n")

    def fail(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pd.DataFrame, "to_csv", fail)
    with pytest.raises(KeyboardInterrupt):
        write_csv(house_prices(10, SEED), output)
    assert output.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["houses.csv"]


def test_no_rows_is_refused_with_the_fix(capsys):
    with pytest.raises(UserError, match="pass --rows N with N >= 1"):
        house_prices(0, SEED)
    assert main(["--rows", "0"]) == 1
    assert "demo_data failed: --rows 0" in capsys.readouterr().err
