"""The run's reports: the export record and the tables 05_export shows, and the index's gate."""

from __future__ import annotations

import json

import pytest

from scripts.pipeline.report import (
    export_record,
    files_table,
    gate_record,
    gate_rules_table,
    gate_section,
    gate_verdict,
    onnx_parity_table,
    staged_record,
    suite_mismatches,
    suite_parity_table,
    version_table,
)
from scripts.pipeline.rundir import RunDir
from service.errors import UserError


def record(**metadata: object) -> dict:
    """Return an export record shaped as export.json, with `metadata` over a passing export."""
    return {
        "tag": "iris:abc",
        "stored": True,
        "created": "2026-12-01T10:00:00+00:00",
        "labels": {"estimator": "random_forest", "run_id": "20261201T100000Z"},
        "metadata": {
            "serving_format": "onnx",
            "onnx": {
                "converted": True,
                "parity": {
                    "rows": 30,
                    "labels_differing": 0,
                    "max_probability_difference": 6.556e-07,
                    "tolerance": 1e-05,
                    "passed": True,
                },
            },
            "classes": ["setosa", "versicolor"],
            "run_id": "20261201T100000Z",
            "git_commit": "3d7ccd5",
            "data_sha256": "b6b8efc8",
            "validation_parity": {
                "checked_frames": 6,
                "expectations_compared": 102,
                "mismatches": [],
                "agree": True,
            },
            "files": {"model.onnx": "aa11", "suite.json": "bb22", "extra.bin": "cc33"},
            **metadata,
        },
    }


def challenger_gate(passed: bool) -> dict:
    failures = [] if passed else ["accuracy: challenger 0.8667 is not at least champion 0.9333"]
    return {
        "challenger": "iris:abc",
        "champion": "iris:old",
        "outcome": "challenger",
        "passed": passed,
        "same_data_and_split": True,
        "rows": {
            "source": "the run's held-out split (holdout.csv)",
            "total": 30,
            "compared": 29,
            "rejected": {"challenger": {"rows": 1}, "champion": {"rows": 0}},
        },
        "rules": [
            {
                "metric": "accuracy",
                "greater_is_better": True,
                "threshold": None,
                "min_absolute_change": 0.0,
                "min_relative_change": None,
                "challenger": 0.8667,
                "champion": 0.9333 if not passed else 0.8,
                "passed": passed,
                "failures": failures,
            }
        ],
    }


def test_version_table_names_the_tag_format_and_lineage():
    table = version_table(record())
    assert list(table.columns) == ["value"]
    assert table["value"].to_dict() == {
        "tag": "iris:abc",
        "created (UTC)": "2026-12-01T10:00:00+00:00",
        "serving format": "onnx",
        "estimator": "random_forest",
        "run id": "20261201T100000Z",
        "git commit": "3d7ccd5",
        "data sha256": "b6b8efc8",
        "classes": "setosa, versicolor",
    }


def test_files_table_lists_each_hash_with_what_the_file_holds():
    table = files_table(record())
    assert table.to_dict("records") == [
        {
            "file": "model.onnx",
            "sha256": "aa11",
            "holds": "the pipeline as an ONNX graph: what the service runs",
        },
        {
            "file": "suite.json",
            "sha256": "bb22",
            "holds": "the expectation suite every request is validated against",
        },
        {"file": "extra.bin", "sha256": "cc33", "holds": ""},
    ]


def test_onnx_parity_table_shows_the_check_or_why_there_is_no_graph():
    passed = onnx_parity_table(record())["value"].to_dict()
    assert passed["labels that differ"] == 0 and passed["parity passed"] is True
    assert passed["largest probability difference"] == "6.6e-07"
    assert passed["served as"] == "onnx"
    failed = onnx_parity_table(
        record(serving_format="skops", onnx={"converted": False, "error": "MissingShape: x"})
    )["value"].to_dict()
    assert failed == {
        "converted by skl2onnx": False,
        "error": "MissingShape: x",
        "served as": "skops",
    }


def test_suite_parity_tables_count_and_list_the_verdicts_that_differ():
    assert suite_mismatches(record()).empty
    mismatch = {
        "frame": 2,
        "position": 7,
        "expectation": "expect_column_values_to_be_between",
        "column": "x",
        "compiled": {"success": True, "rows": []},
        "gx": {"success": False, "rows": list(range(12))},
    }
    parity = {
        "checked_frames": 6,
        "expectations_compared": 12,
        "mismatches": [mismatch],
        "agree": False,
    }
    differing = record(validation_parity=parity)
    assert suite_parity_table(differing)["value"].to_dict() == {
        "frames checked": 6,
        "verdicts compared": 12,
        "verdicts that differ (up to 20 kept)": 1,
        "agree": False,
    }
    assert suite_mismatches(differing).to_dict("records") == [
        {
            "frame": 2,
            "position": 7,
            "rule": "expect_column_values_to_be_between",
            "column": "x",
            "compiled": "pass",
            "great expectations": "fail, rows 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 …",
        }
    ]


def test_gate_verdict_says_who_against_whom_the_outcome_and_the_rows():
    first = {"challenger": "iris:abc", "champion": None, "passed": True, "outcome": "first version"}
    assert gate_verdict(first) == ["iris:abc is the model's first version: it became the champion."]
    assert gate_verdict(challenger_gate(passed=True))[0] == (
        "Challenger iris:abc against champion iris:old: the gate passed; it stays a challenger; "
        "`make promote` makes it the champion."
    )
    failed = gate_verdict(challenger_gate(passed=False))
    assert failed == [
        "Challenger iris:abc against champion iris:old: the gate failed; it stays a challenger.",
        "29 of 30 rows compared (the run's held-out split (holdout.csv)); rejected by the "
        "challenger's suite: 1, by the champion's: 0.",
    ]


def test_gate_rules_table_and_the_index_show_the_same_rows():
    gate = challenger_gate(passed=False)
    table = gate_rules_table(gate)
    assert table.to_dict("records") == [
        {
            "metric": "accuracy",
            "challenger": "0.8667",
            "champion": "0.9333",
            "rule": "min_absolute_change=0.0, higher is better",
            "verdict": "accuracy: challenger 0.8667 is not at least champion 0.9333",
        }
    ]
    section = gate_section(gate)
    assert "<th>metric</th><th>challenger</th><th>champion</th><th>rule</th><th>verdict</th>" in (
        section
    )
    assert "<td>min_absolute_change=0.0, higher is better</td>" in section
    assert "the gate failed; it stays a challenger." in section
    assert gate_rules_table({"challenger": "iris:abc", "champion": None}).empty


def test_export_record_is_export_json_and_the_gate_must_name_its_tag(tmp_path):
    run = RunDir(tmp_path / "run")
    run.export.write_text(json.dumps(record()))
    assert export_record(run) == record()
    assert gate_record(run, record()) is None
    run.comparison.write_text(json.dumps(challenger_gate(passed=True)))
    assert gate_record(run, record())["champion"] == "iris:old"
    assert gate_record(run, {**record(), "tag": "iris:other"}) is None
    assert gate_record(run, {**record(), "tag": None}) is None


def test_a_folder_with_no_export_and_no_model_names_what_is_missing(tmp_path):
    run = RunDir(tmp_path / "empty")
    with pytest.raises(UserError) as raised:
        staged_record(run)
    message = str(raised.value)
    assert "holds no export.json" in message and "suite.json, pipeline.skops" in message
    assert "`make pipeline`" in message
