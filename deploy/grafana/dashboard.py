"""Build the model service's Grafana dashboard in code and write it as model-service.json.

    .venv/bin/python deploy/grafana/dashboard.py   # rewrites deploy/grafana/model-service.json

Built with grafana-foundation-sdk, pinned in pyproject.toml to its Grafana 11.6 build. Every
query reads the service's /metrics or the recording rules of deploy/prometheus/rules.yml;
tests/deploy/test_grafana_dashboard.py checks that the JSON is what this file writes, that
every query parses and that every metric it reads exists.
"""

from __future__ import annotations

import json
from pathlib import Path

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard, prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DataSourceRef,
    Threshold,
    ThresholdsMode,
    VariableRefresh,
    VariableSort,
)

OUTPUT = Path(__file__).with_name("model-service.json")
UID = "model-service"
DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
# One job is one track of one service (deploy/prometheus/rules.yml adds up by job).
JOB = 'job="$job"'
SCORING = 'endpoint=~"/predict|/predict_csv"'
RATE = "$__rate_interval"


def query(expr: str, legend: str, ref_id: str = "A") -> prometheus.Dataquery:
    return prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(ref_id)


def quantile(q: float, histogram: str, by: tuple[str, ...] = (), selector: str = JOB) -> str:
    """Return the PromQL of quantile `q` of a histogram's buckets, added up `by` labels."""
    return (
        f"histogram_quantile({q}, sum by ({', '.join([*by, 'le'])}) "
        f"(rate({histogram}_bucket{{{selector}}}[{RATE}])))"
    )


def thresholds(*steps: tuple[float | None, str]) -> dashboard.ThresholdsConfig:
    return (
        dashboard.ThresholdsConfig()
        .mode(ThresholdsMode.ABSOLUTE)
        .steps([Threshold(value=value, color=color) for value, color in steps])
    )


def graph(title: str, description: str, unit: str, *queries: prometheus.Dataquery):
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .height(8)
        .span(12)
        .legend(
            common_builders.VizLegendOptions()
            .show_legend(True)
            .display_mode(common.LegendDisplayMode.LIST)
            .placement(common.LegendPlacement.BOTTOM)
        )
    )
    for target in queries:
        panel = panel.with_target(target)
    return panel


def threshold_lines(panel: timeseries.Panel, *steps: tuple[float | None, str]):
    """Return `panel` with dashed lines at the alert thresholds."""
    return panel.thresholds(thresholds(*steps)).thresholds_style(
        common_builders.GraphThresholdsStyleConfig().mode(common.GraphThresholdsStyleMode.DASHED)
    )


def traffic_row() -> list:
    requests = graph(
        "Requests by endpoint and status",
        "Requests per second that BentoML answered, by route and HTTP status.",
        "reqps",
        query(
            f"sum by (endpoint, http_response_code) "
            f"(rate(bentoml_service_request_total{{{JOB}}}[{RATE}]))",
            "{{endpoint}} {{http_response_code}}",
        ),
    )
    latency = threshold_lines(
        graph(
            "Latency p50 and p99",
            "Time to answer a scoring request, as BentoML measures it. HighLatencyP99 fires "
            "when p99 stays above 0.5 s for 10 minutes.",
            "s",
            *(
                query(
                    quantile(
                        q,
                        "bentoml_service_request_duration_seconds",
                        ("endpoint",),
                        f"{JOB}, {SCORING}",
                    ),
                    f"p{int(q * 100)} {{{{endpoint}}}}",
                    ref_id,
                )
                for q, ref_id in ((0.5, "A"), (0.99, "B"))
            ),
        ),
        (None, "transparent"),
        (0.5, "red"),
    )
    stages = graph(
        "Time per stage, p99",
        "Where a request's time goes inside the service: reading the body (parse), the "
        "model's expectation suite (validate) and the model (predict).",
        "s",
        query(
            quantile(0.99, "model_service_stage_seconds", ("model", "stage")),
            "{{stage}} {{model}}",
        ),
    )
    rows = graph(
        "Rows per scored request",
        "Mean and p99 of the rows in one scored request: large batches explain slow requests.",
        "short",
        query(
            f"sum(rate(model_service_request_rows_sum{{{JOB}}}[{RATE}])) "
            f"/ sum(rate(model_service_request_rows_count{{{JOB}}}[{RATE}]))",
            "mean",
        ),
        query(
            quantile(0.99, "model_service_request_rows"),
            "p99",
            "B",
        ),
    )
    return [requests, latency, stages, rows]


def rejections_row() -> list:
    share = threshold_lines(
        graph(
            "Share of scoring requests rejected",
            "Rejected (a 4xx with the service's error body) over all requests to /predict "
            "and /predict_csv. RejectionShareRising fires above 5% for 15 minutes.",
            "percentunit",
            query(
                f"sum(rate(model_service_rejected_requests_total{{{JOB}, {SCORING}}}[{RATE}])) "
                f"/ sum(rate(bentoml_service_request_total{{{JOB}, {SCORING}}}[{RATE}]))",
                "rejected",
            ),
        ),
        (None, "transparent"),
        (0.05, "red"),
    )
    by_error = graph(
        "Rejections by error, per minute",
        "Requests refused, by the `error` of the body (validation_failed, malformed_json, "
        "...) and endpoint.",
        "short",
        query(
            f"60 * sum by (error, endpoint) "
            f"(rate(model_service_rejected_requests_total{{{JOB}}}[{RATE}]))",
            "{{error}} {{endpoint}}",
        ),
    )
    by_rule = graph(
        "Failed expectations by rule and column, per minute",
        "Each failed expectation of each rejected request: which rule of the suite and which "
        "column refuse the most input (`_other` is a column the model does not have).",
        "short",
        query(
            f"60 * sum by (expectation, column) "
            f"(rate(model_service_failed_expectations_total{{{JOB}}}[{RATE}]))",
            "{{column}}: {{expectation}}",
        ),
    )
    auth = graph(
        "Refused API keys, per minute",
        "Requests without a key (missing) or with a wrong one (invalid); they never reach "
        "the model.",
        "short",
        query(
            f"60 * sum by (reason) (rate(model_service_auth_failures_total{{{JOB}}}[{RATE}]))",
            "{{reason}}",
        ),
    )
    return [share, by_error, by_rule, auth]


def predictions_row() -> list:
    by_class = graph(
        "Predictions by class, rows per second",
        "Rows predicted, by predicted class. A class mix unlike the training data's is a "
        "sign of drift in the inputs (or of a new client).",
        "short",
        query(
            f"sum by (model, class) (rate(model_service_predictions_total{{{JOB}}}[{RATE}]))",
            "{{class}} {{model}}",
        ),
    ).stacking(common_builders.StackingConfig().mode(common.StackingMode.NORMAL))
    version = (
        stat.Panel()
        .title("Model version served")
        .description(
            "Each model version the job's pods serve, with the number of pods serving it. "
            "ModelVersionChanged fires when it changes."
        )
        .datasource(DATASOURCE)
        .height(8)
        .span(12)
        .with_target(
            query(
                f"count by (model) (model_service_model_info{{{JOB}}})",
                "{{model}}",
            ).instant()
        )
        .text_mode(common.BigValueTextMode.VALUE_AND_NAME)
        .color_mode(common.BigValueColorMode.NONE)
        .graph_mode(common.BigValueGraphMode.NONE)
        .unit("none")
    )
    return [by_class, version]


def drift_row() -> list:
    psi_steps = ((None, "green"), (0.1, "yellow"), (0.2, "red"))
    psi_15m = threshold_lines(
        graph(
            "PSI per feature, 15 minute window",
            "Population stability index of each feature's live values against its training "
            "bins. Under 0.1 is stable, 0.1 to 0.2 a moderate shift, above 0.2 a large one. "
            "With few rows in the window it is inflated by about (bins - 1) / rows.",
            "none",
            query(f"model_service:feature_psi:15m{{{JOB}}}", "{{feature}} {{model}}"),
        ),
        *psi_steps,
    )
    psi_1h = threshold_lines(
        graph(
            "PSI per feature, 1 hour window",
            "The window FeatureDrift reads: it fires above 0.2 for 15 minutes when the hour "
            "held at least 1,000 rows.",
            "none",
            query(f"model_service:feature_psi:1h{{{JOB}}}", "{{feature}} {{model}}"),
        ),
        *psi_steps,
    )
    prediction_psi = threshold_lines(
        graph(
            "Prediction drift (PSI)",
            "Population stability index of the model's answers (a classifier's classes, a "
            "regressor's values in the quantile bins of its held-out predictions) against its "
            "answers on the held-out rows. It often moves before labels return. PredictionDrift "
            "fires when the hour is above 0.2 for 15 minutes over at least 1,000 rows.",
            "none",
            query(f"model_service:prediction_psi:1h{{{JOB}}}", "1 hour {{model}}"),
            query(f"model_service:prediction_psi:15m{{{JOB}}}", "15 minutes {{model}}", "B"),
        ),
        (None, "transparent"),
        (0.2, "red"),
    )
    window_rows = threshold_lines(
        graph(
            "Rows in the drift windows",
            "Validated rows counted into the bins. FeatureDrift needs 1,000 in the hour; "
            "below that, PSI is mostly sampling noise.",
            "short",
            query(f"max(model_service:drift_feature_rows:increase1h{{{JOB}}})", "1 hour"),
            query(f"max(model_service:drift_feature_rows:increase15m{{{JOB}}})", "15 minutes", "B"),
        ),
        (None, "transparent"),
        (1000, "orange"),
    )
    bins = graph(
        "Bin shares of $feature: live (1 hour) and training",
        "Where the drift is: the share of the last hour's rows in each bin of the chosen "
        "feature (b0, b1, ... are its training quantile bins, lowest first; missing and "
        "unseen have their own), against the share of the training rows.",
        "percentunit",
        query(f'model_service:drift_live_share:1h{{{JOB}, feature="$feature"}}', "{{bin}} live"),
        query(
            f'model_service:drift_reference_share{{{JOB}, feature="$feature"}}',
            "{{bin}} training",
            "B",
        ),
    ).span(24)  # the fifth panel of the row: the full width, not half a row left empty
    return [psi_15m, psi_1h, prediction_psi, window_rows, bins]


def candidate_row() -> list:
    """Live accuracy and error from /feedback, the label-free estimate, and a shadow candidate
    against the main model."""
    accuracy = graph(
        "Live accuracy, 6 hours, and estimated accuracy without labels, 1 hour",
        "Live: labels sent to /feedback that matched the prediction, by model. Estimated: the "
        "label-free estimate (CBPE), the mean calibrated probability of each predicted class "
        "over every answered row. Both against the model's held-out accuracy (heldout); "
        "LiveAccuracyLow and EstimatedAccuracyLow fire 5 points under it. The estimate cannot "
        "see concept drift (the same inputs coming to mean another label): a steady estimate "
        "is no proof of accuracy, live accuracy is. A regressor has no estimate.",
        "percentunit",
        query(f"model_service:live_accuracy:6h{{{JOB}}}", "live {{model}}"),
        query(f"model_service:estimated_accuracy:1h{{{JOB}}}", "estimated {{model}}", "B"),
        query(f"model_service:heldout_accuracy{{{JOB}}}", "heldout {{model}}", "C"),
    )
    estimated = graph(
        "Estimated precision, recall and F1 without labels (macro), 1 hour",
        "From the expected confusion matrix of the calibrated probabilities (CBPE): macro "
        "averages over the classes whose ratio is defined in the window, by model. Blind to "
        "concept drift, as the estimated accuracy is.",
        "percentunit",
        query(f"model_service:estimated_precision_macro:1h{{{JOB}}}", "precision {{model}}"),
        query(f"model_service:estimated_recall_macro:1h{{{JOB}}}", "recall {{model}}", "B"),
        query(f"model_service:estimated_f1_macro:1h{{{JOB}}}", "F1 {{model}}", "C"),
    ).span(24)  # the fifth panel of the row: the full width
    error = graph(
        "Live regression error, 6 hours: RMSE and MAE",
        "For a regressor: the error of the predictions whose true value came back through "
        "/feedback, against the model's held-out RMSE and MAE (heldout). LiveErrorHigh fires "
        "when live RMSE is more than 25% above held-out RMSE over at least 200 rows.",
        "none",
        query(f"model_service:live_rmse:6h{{{JOB}}}", "live RMSE {{model}}"),
        query(f"model_service:live_mae:6h{{{JOB}}}", "live MAE {{model}}", "B"),
        query(f"model_service:heldout_rmse{{{JOB}}}", "heldout RMSE {{model}}", "C"),
        query(f"model_service:heldout_mae{{{JOB}}}", "heldout MAE {{model}}", "D"),
    )
    agreement = graph(
        "Shadow candidate: agreement and probability difference",
        "Share of rows where the shadow candidate's label equals the main model's, and the "
        "median and p90 of the largest per-row difference in class probabilities.",
        "percentunit",
        query(
            f'sum by (candidate) (rate(model_service_shadow_agreement_total{{{JOB}, agree="true"}}'
            f"[{RATE}])) / sum by (candidate) "
            f"(rate(model_service_shadow_agreement_total{{{JOB}}}[{RATE}]))",
            "agreement {{candidate}}",
        ),
        *(
            query(
                quantile(q, "model_service_shadow_probability_difference", ("candidate",)),
                f"p{int(q * 100)} difference {{{{candidate}}}}",
                ref,
            )
            for q, ref in ((0.5, "B"), (0.9, "C"))
        ),
    )
    shadow_work = graph(
        "Shadow candidate: requests and latency",
        "Requests the shadow candidate scored, dropped (its queue was full), failed or "
        "rejected, per second; and its p99 time to validate and score one request.",
        "short",
        query(
            f"sum by (result) (rate(model_service_shadow_requests_total{{{JOB}}}[{RATE}]))",
            "{{result}}",
        ),
        query(
            "1000 * " + quantile(0.99, "model_service_shadow_seconds"),
            "p99 ms",
            "B",
        ),
    )
    return [accuracy, error, agreement, shadow_work, estimated]


def variable(name: str, label: str, expr: str) -> dashboard.QueryVariable:
    return (
        dashboard.QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query(expr)
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
    )


def build() -> dashboard.Dashboard:
    """Return the dashboard: traffic, rejections, predictions and drift of one job."""
    board = (
        dashboard.Dashboard("Model service")
        .uid(UID)
        .description(
            "The model service's /metrics and the recording rules of deploy/prometheus/rules.yml "
            "(docs/monitoring.md). Generated by deploy/grafana/dashboard.py."
        )
        .tags(["model-service", "bentoml"])
        .time("now-3h", "now")
        .refresh("1m")
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .with_variable(
            dashboard.DatasourceVariable("datasource").label("Prometheus").type("prometheus")
        )
        .with_variable(variable("job", "Job", "label_values(model_service_model_info, job)"))
        .with_variable(
            variable(
                "feature",
                "Feature",
                'label_values(model_service_drift_reference_share{job="$job"}, feature)',
            )
        )
    )
    rows = [
        ("Traffic and latency", traffic_row()),
        ("Rejections", rejections_row()),
        ("Predictions and model", predictions_row()),
        ("Drift", drift_row()),
        ("Accuracy and candidate", candidate_row()),
    ]
    for title, panels in rows:
        board = board.with_row(dashboard.Row(title))
        for panel in panels:
            board = board.with_panel(panel)
    return board


def to_json() -> str:
    """Return the dashboard as the JSON Grafana imports, ending in a newline."""
    return json.dumps(build().build(), cls=JSONEncoder, indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    OUTPUT.write_text(to_json())
    print(f"wrote {OUTPUT}")
