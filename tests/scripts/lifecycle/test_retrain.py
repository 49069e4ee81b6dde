import pandas as pd
import pytest

from scripts.lifecycle.production_rows import TIME
from scripts.lifecycle.retrain import RetrainPolicy, pipeline_overrides, training_table
from scripts.pipeline.params import PROJECT_ROOT, load_params
from service.errors import UserError


def test_the_shipped_policy_reads_as_written():
    policy = RetrainPolicy.from_params(load_params())
    assert policy == RetrainPolicy(0, 0.2, 20, True)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"window_day": 7}, r"unknown retrain setting\(s\) window_day; known: window_days"),
        ({"include_training_data": "yes"}, r"include_training_data must be a boolean"),
        ({"min_recent_rows": 2.5}, r"min_recent_rows must be an integer"),
        ({"window_days": None}, r"window_days must be a number, not null"),
        ({"recent_share": True}, r"recent_share must be a number"),
        ({"window_days": -1}, r"window_days must be >= 0"),
        ([1], r"retrain must be a mapping"),
    ],
)
def test_a_bad_policy_names_the_key_and_what_it_takes(raw, message):
    with pytest.raises(UserError, match=message):
        RetrainPolicy.from_params({"retrain": raw})


def test_the_log_s_own_overrides_stay_and_the_rest_go_to_the_pipeline():
    given = ["log_dir=/x", "estimator=lightgbm", "model_tag=iris:1", "retrain={window_days: 2}"]
    assert pipeline_overrides(given) == ["estimator=lightgbm", "retrain={window_days: 2}"]


def _production() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "petal_width_cm": [0.2],
            "sepal_length_cm": [5.0],
            "sepal_width_cm": [3.4],
            "petal_length_cm": [1.5],
            "species": ["setosa"],
            TIME: [pd.Timestamp("2026-12-01", tz="UTC")],
        }
    )


def test_production_rows_follow_the_data_file_in_its_columns_or_stand_alone():
    params = {"data_path": PROJECT_ROOT / "data/iris.csv", "target": "species"}
    base = pd.read_csv(params["data_path"])
    joined = training_table(params, _production(), RetrainPolicy())
    assert list(joined.columns) == list(base.columns) and len(joined) == len(base) + 1
    assert joined.iloc[-1]["species"] == "setosa" and joined.iloc[-1]["petal_width_cm"] == 0.2
    alone = training_table(params, _production(), RetrainPolicy(include_training_data=False))
    assert len(alone) == 1 and TIME not in alone.columns


def test_a_data_file_without_the_model_s_columns_is_refused(tmp_path):
    (tmp_path / "other.csv").write_text("a,species\n1,setosa\n2,virginica\n")
    params = {"data_path": tmp_path / "other.csv", "target": "species"}
    with pytest.raises(UserError, match=r"lacks: it is not the data the model was trained on"):
        training_table(params, _production(), RetrainPolicy())
