import numpy as np
import pandas as pd
import pytest

from scripts.pipeline.data import infer_schema, load_table, resolve_task, split_target
from scripts.pipeline.training import load_split
from service.errors import UserError
from service.scoring.features import MISSING_CATEGORY, model_inputs


def test_table_without_the_target_names_the_columns(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,x\n2,y\n")
    with pytest.raises(
        UserError, match=r"target column 'label' is not in t.csv; its columns are a, b"
    ):
        load_table(path, "label")


def test_unlabelled_rows_are_left_out_and_counted_never_filled(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,label\n1,x\n2,\n3,y\n4,x\n5,y\n")
    frame = load_table(path, "label")
    features, labels = split_target(frame, "label")
    assert len(frame) == 5 and labels.tolist() == ["x", "y", "x", "y"]
    assert features["a"].tolist() == [1, 3, 4, 5]
    split = load_split(path, "label", 0.5, 0)
    assert split.unlabelled_rows == 1
    assert len(split.train_features) + len(split.holdout_features) == 4


def test_a_target_empty_in_every_row_stops_with_one_line(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,label\n1,\n2,\n")
    with pytest.raises(UserError, match="target column 'label' in t.csv is empty in every row"):
        load_table(path, "label")


def test_a_whole_number_target_read_as_floats_because_of_gaps_is_integers_again(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,y\n1,0\n2,\n3,1\n")
    _, labels = split_target(load_table(path, "y"), "y")
    assert labels.dtype == "int64" and labels.tolist() == [0, 1]


@pytest.mark.parametrize(
    ("values", "task", "picked"),
    [
        (["setosa", "virginica"] * 30, "auto", "classification"),
        ([0, 1] * 30, "auto", "classification"),
        (list(range(15)) * 4, "auto", "classification"),
        (list(range(60)), "auto", "regression"),
        ([0.5, 1.25, 2.0] * 20, "auto", "regression"),
        (list(range(60)), "classification", "classification"),
        ([0, 1] * 30, "regression", "regression"),
    ],
)
def test_task_auto_picks_and_says_why(values, task, picked):
    resolved, reason = resolve_task(pd.Series(values, name="y"), task)
    assert resolved == picked
    assert "'y'" in reason or f"-p task={task}" in reason


def test_a_wrong_task_stops_with_one_line_naming_the_column_and_the_fix():
    with pytest.raises(
        UserError,
        match=r"target column 'y' holds fractional numbers \(e.g. 0.5\)"
        r".*pass -p task=regression",
    ):
        resolve_task(pd.Series([0.5, 1.0, 2.0], name="y"), "classification")
    with pytest.raises(
        UserError,
        match=r"target column 'y' holds text .*pass -p "
        r"task=classification",
    ):
        resolve_task(pd.Series(["a", "b"], name="y"), "regression")
    with pytest.raises(UserError, match="task must be auto, classification or regression"):
        resolve_task(pd.Series([1, 2], name="y"), "clustering")


def test_task_auto_picks_right_on_the_shipped_tables():
    from scripts.pipeline.params import PROJECT_ROOT

    for file, target, picked in (
        ("iris.csv", "species", "classification"),
        ("churn.csv", "churned", "classification"),
        ("house_prices.csv", "price", "regression"),
    ):
        frame = load_table(PROJECT_ROOT / "data" / file, target)
        assert resolve_task(split_target(frame, target)[1], "auto")[0] == picked, file


def test_schema_infers_kinds_nulls_categories_and_integer_labels():
    features = pd.DataFrame(
        {
            "n": [1.0, np.nan, 3.0],
            "i": [1, 2, 3],
            "c": ["b", None, "a"],
            "flag": [True, False, True],
        }
    )
    schema = infer_schema(features, pd.Series([1, 0, 1], name="y"))
    kinds = {f.name: (f.kind, f.nullable, f.categories) for f in schema.features}
    assert kinds == {
        "n": ("numeric", True, None),
        "i": ("numeric", False, None),
        "c": ("categorical", True, ["a", "b"]),
        "flag": ("categorical", False, ["False", "True"]),
    }
    assert schema.classes == [0, 1] and schema.label_kind == "integer"
    assert type(schema.from_dict(schema.to_dict()).features[0]).__name__ == "Feature"


def test_model_inputs_orders_columns_and_fills_missing_categories():
    schema = infer_schema(
        pd.DataFrame({"n": [1, 2], "c": ["x", None]}), pd.Series(["a", "b"], name="y")
    )
    shaped = model_inputs(pd.DataFrame({"c": [None, "x"], "n": [5, np.nan]}), schema)
    assert list(shaped.columns) == ["n", "c"]
    assert shaped["c"].tolist() == [MISSING_CATEGORY, "x"]
    assert shaped["n"].dtype == np.float64 and np.isnan(shaped["n"].iloc[1])


def test_boolean_features_are_read_as_text_categories(tmp_path):
    path = tmp_path / "b.csv"
    path.write_text("flag,mixed,y\nTrue,1,a\nFalse,,b\nTrue,x,a\n")
    frame = load_table(path, "y")
    assert frame["flag"].tolist() == ["True", "False", "True"]
    assert frame["mixed"].iloc[0] == "1" and pd.isna(frame["mixed"].iloc[1])
    schema = infer_schema(frame.drop(columns="y"), frame["y"])
    assert schema.feature("flag").categories == ["False", "True"]


def test_a_feature_empty_in_every_row_is_named(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,gone,y\n1,,p\n2,,q\n")
    with pytest.raises(UserError, match=r"column\(s\) 'gone' in t.csv are empty in every row"):
        load_table(path, "y")
