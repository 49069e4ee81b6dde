"""`make monitor` with real papermill on a log made from iris rows scored by the real model."""

from __future__ import annotations

import pytest
from support.chromium import render
from support.monitor_runs import (
    REJECTED,
    monitor_drift,
    prediction,
    run_monitor,
    shifted_iris_log,
    write_log,
)

from service.model.store import load_model_version

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def shifted(iris_run, tmp_path_factory):
    version = load_model_version(iris_run.tag)
    log = shifted_iris_log(tmp_path_factory.mktemp("log"), version)
    run_dir = tmp_path_factory.mktemp("monitor") / "run"
    drift = monitor_drift(log.folder, run_dir, f"-p model_tag={iris_run.tag}")
    return log, drift, run_dir


def test_only_the_shifted_feature_is_flagged(shifted):
    log, drift, _ = shifted
    assert drift["rows"] == log.rows and drift["rejected_requests"] == REJECTED
    assert drift["drifted"] == [log.shifted]
    flagged = {name for name, feature in drift["features"].items() if feature["drifted"]}
    assert flagged == {log.shifted}
    assert drift["features"][log.shifted]["ks_pvalue"] < 1e-6


def test_live_accuracy_is_that_of_the_labels_sent(shifted, iris_run):
    log, drift, _ = shifted
    assert drift["model"] == iris_run.tag
    assert drift["live"]["labelled"] == log.labelled
    assert drift["live"]["accuracy"] == pytest.approx(log.accuracy)
    assert drift["live"]["heldout"]["accuracy"] is not None
    assert drift["unparsed_lines"] == 0


def iris_run_holdout_rows(run) -> int:
    return load_model_version(run.tag).metrics["n_holdout"]


def test_drift_json_has_the_label_free_estimate_beside_live(shifted, iris_run):
    _, drift, _ = shifted
    estimated = drift["estimated"]
    assert estimated["available"] is True and estimated["rows"] == drift["rows"]
    # The log's probabilities are the real model's; rows shifted into less sure regions.
    assert 0.3 < estimated["accuracy"] <= 1
    # The calibrator's held-out accuracy is the served graph's on the held-out rows: the
    # pipeline's to within parity.
    assert estimated["heldout"]["rows"] == iris_run_holdout_rows(iris_run)
    assert estimated["heldout"]["accuracy"] == pytest.approx(
        drift["live"]["heldout"]["accuracy"], abs=0.05
    )
    assert "concept drift" in estimated["caveat"]


def test_the_report_renders_in_headless_chromium(shifted, tmp_path):
    _, _, run_dir = shifted
    page = run_dir / "04_monitor.html"
    rendered = render(page, tmp_path / "monitor.png")
    assert rendered.console == []
    png = rendered.screenshot.read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 50_000
    # PSI, the drifted feature's bins, prediction mix, rejections, accuracy over time, and
    # the estimated accuracy beside it.
    assert page.read_text().count("<img ") == 6


def test_the_chromium_helper_sees_a_script_error(tmp_path):
    page = tmp_path / "broken.html"
    page.write_text("<html><body><p>x</p><script>notDefined();</script></body></html>")
    rendered = render(page, tmp_path / "broken.png", width=200, height=200)
    assert [text for text, _ in rendered.console] == [
        "Uncaught ReferenceError: notDefined is not defined"
    ]


def test_fail_on_drift_fails_the_command_for_a_scheduled_job(shifted, iris_run, tmp_path):
    log, _, _ = shifted
    done = run_monitor(
        log.folder, f"-p model_tag={iris_run.tag}", "--fail-on-drift", run_dir=tmp_path / "run"
    )
    # make itself exits with 2 and names the runner's code.
    assert done.returncode != 0 and "monitor] Error 3" in done.stderr, done.stderr
    assert f"drifted features: {log.shifted}" in done.stdout


def test_a_log_of_another_model_ends_with_a_message_not_a_traceback(iris_run, tmp_path):
    write_log(tmp_path / "log", [prediction("r", 0, {"x": 1.0}, "setosa", model="iris:other")])
    done = run_monitor(tmp_path / "log", f"-p model_tag={iris_run.tag}", run_dir=tmp_path / "run")
    assert done.returncode != 0
    assert f"monitor failed: {tmp_path / 'log'} has no predictions by {iris_run.tag}" in done.stderr
    assert "iris:other (1)" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "run").exists()


def test_an_empty_log_folder_ends_with_a_message(iris_run, tmp_path):
    (tmp_path / "log").mkdir()
    (tmp_path / "log" / "predictions-w1.jsonl").write_text("")
    done = run_monitor(tmp_path / "log", f"-p model_tag={iris_run.tag}")
    assert done.returncode != 0
    assert "holds no prediction records" in done.stderr and "Traceback" not in done.stderr
