import ast
import json
from pathlib import Path

import papermill
import pytest

from scripts.pipeline.params import (
    PIPELINE_SETTINGS,
    PROJECT_ROOT,
    load_params,
    parse_override,
    resolve_params,
)
from service.errors import UserError

BASE = {"model_name": "iris", "test_size": 0.2, "random_state": 42, "hyperparameters": {"n": 1}}
KNOWN = set(BASE) | {"target"}


def test_override_values_are_read_as_yaml():
    assert parse_override("random_state=7") == ("random_state", 7)
    assert parse_override("hyperparameters={max_depth: 3}") == ("hyperparameters", {"max_depth": 3})
    assert parse_override("target=a=b") == ("target", "a=b")


def test_override_replaces_the_file_value():
    params = resolve_params(BASE, ["random_state=1", "test_size=0.3"], KNOWN)
    assert params["random_state"] == 1 and params["test_size"] == 0.3
    assert BASE["random_state"] == 42


def test_integer_is_accepted_where_a_number_is_expected():
    assert resolve_params(BASE, ["test_size=1"], KNOWN)["test_size"] == 1


def test_unknown_override_lists_the_known_names():
    with pytest.raises(UserError, match="unknown parameter 'n_trees'; known parameters: hyper"):
        resolve_params(BASE, ["n_trees=5"], KNOWN)


def test_unknown_name_in_the_file_is_rejected():
    with pytest.raises(UserError, match="unknown parameter.*colour.*in the parameter file"):
        resolve_params({**BASE, "colour": "red"}, [], KNOWN)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("random_state=seven", "random_state must be an integer like 42, not a string"),
        ("test_size=[0.2]", "test_size must be a number like 0.2, not a list"),
        ("hyperparameters=5", "hyperparameters must be a mapping"),
    ],
)
def test_wrong_type_names_the_parameter_and_the_expected_type(override, message):
    with pytest.raises(UserError, match=message):
        resolve_params(BASE, [override], KNOWN)


def test_override_without_equals_sign_is_rejected():
    with pytest.raises(UserError, match="is not NAME=VALUE"):
        parse_override("random_state")


def test_parameter_file_must_be_a_mapping(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(UserError, match="must hold NAME: VALUE"):
        load_params(path)
    with pytest.raises(UserError, match="does not exist"):
        load_params(tmp_path / "none.yaml")


# Paths the runner sets, or that point at project folders from notebooks/; not user parameters.
RUNNER_PATHS = {"run_dir", "expectations_dir"}
# Paths to files or folders the user names, relative to the project root in params.yaml.
PATH_PARAMS = {"data_path", "log_dir"}


def notebook_drift(notebook: Path, params: dict) -> list[str]:
    """Return how the notebook's `parameters` cell disagrees with `params`, one line each."""
    cells = json.loads(notebook.read_text())["cells"]
    tagged = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(tagged) != 1:
        return [f"{notebook.name} has {len(tagged)} cells tagged parameters, not 1"]
    drift = []
    for node in ast.parse("".join(tagged[0]["source"])).body:
        name, value = node.targets[0].id, ast.literal_eval(node.value)
        if name in RUNNER_PATHS:
            continue
        if name not in params:
            drift.append(f"{notebook.name} declares {name}, which params.yaml lacks")
        elif name in PATH_PARAMS:  # relative to notebooks/ there, to the project root here
            if (notebook.parent / value).resolve() != (PROJECT_ROOT / params[name]).resolve():
                drift.append(f"{notebook.name}: {name} {value!r} is not {params[name]!r}")
        elif value != params[name]:
            drift.append(f"{notebook.name}: {name} = {value!r}, params.yaml has {params[name]!r}")
    return drift


def test_shipped_params_match_the_notebook_defaults():
    params = load_params()
    notebooks = sorted((PROJECT_ROOT / "notebooks").glob("*.ipynb"))
    assert len(notebooks) >= 3
    assert [line for nb in notebooks for line in notebook_drift(nb, params)] == []
    declared = set().union(*(set(papermill.inspect_notebook(str(nb))) for nb in notebooks))
    assert set(params) - declared - PIPELINE_SETTINGS == set(), (
        "params.yaml holds a parameter no notebook declares"
    )
    # The runner's own settings are in params.yaml and never handed to a notebook.
    assert PIPELINE_SETTINGS <= set(params) and not PIPELINE_SETTINGS & declared


def _notebook(directory: Path, source: str) -> Path:
    path = directory / "00_probe.ipynb"
    cell = {"cell_type": "code", "metadata": {"tags": ["parameters"]}, "source": source}
    path.write_text(json.dumps({"cells": [cell]}))
    return path


def test_drift_check_catches_a_changed_default_and_an_undeclared_parameter(tmp_path):
    params = {"test_size": 0.2, "data_path": "data/iris.csv"}
    notebook = _notebook(tmp_path, 'test_size = 0.3\ncolour = "red"\nrun_dir = "x"\n')
    assert notebook_drift(notebook, params) == [
        "00_probe.ipynb: test_size = 0.3, params.yaml has 0.2",
        "00_probe.ipynb declares colour, which params.yaml lacks",
    ]


def test_another_commands_parameter_is_left_out_and_refused_as_an_override():
    base, others = {**BASE, "log_dir": "x"}, frozenset({"log_dir"})
    assert "log_dir" not in resolve_params(base, [], KNOWN, others)
    with pytest.raises(UserError, match="'log_dir' is not one this command's notebooks take"):
        resolve_params(base, ["log_dir=y"], KNOWN, others)


def test_the_pipeline_leaves_the_monitoring_notebook_to_make_monitor():
    from scripts.pipeline.run import MONITOR_NOTEBOOK, monitor_only, notebook_paths

    assert MONITOR_NOTEBOOK.is_file() and MONITOR_NOTEBOOK not in notebook_paths()
    only = monitor_only({"model_name"})
    assert {"log_dir", "model_tag", "window_hours"} <= only and "model_name" not in only


def test_the_export_notebook_is_run_after_the_export_not_before():
    from scripts.pipeline.run import EXPORT_NOTEBOOK, notebook_paths

    assert EXPORT_NOTEBOOK.is_file()
    assert [nb.stem for nb in notebook_paths()] == ["01_validate_data", "02_train", "03_evaluate"]
    # Its parameters come from params.yaml like every other notebook's.
    assert set(papermill.inspect_notebook(str(EXPORT_NOTEBOOK))) == {"model_name", "run_dir"}
