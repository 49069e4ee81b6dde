import numpy as np
import pandas as pd
import pytest

from scripts.pipeline.data import infer_schema, load_table
from service.errors import UserError
from service.scoring.features import MISSING_CATEGORY, model_inputs


def test_table_without_the_target_names_the_columns(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,x\n2,y\n")
    with pytest.raises(
        UserError, match=r"target column 'label' is not in t.csv; its columns are a, b"
    ):
        load_table(path, "label")


def test_unlabelled_rows_are_rejected(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,label\n1,x\n2,\n3,y\n")
    with pytest.raises(UserError, match="empty in 1 rows"):
        load_table(path, "label")


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
