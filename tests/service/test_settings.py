"""Service settings: the default model name comes from params.yaml and nowhere else."""

import subprocess

import pytest

from scripts.pipeline.params import PROJECT_ROOT, load_params
from service.errors import UserError
from service.settings import Settings, default_model_name


def test_default_model_tag_is_params_model_name_champion(monkeypatch):
    monkeypatch.delenv("MODEL_TAG", raising=False)
    assert Settings.from_env().model_tag == f"{load_params()['model_name']}:champion"


def test_model_tag_setting_wins(monkeypatch):
    monkeypatch.setenv("MODEL_TAG", "other:abc")
    assert Settings.from_env().model_tag == "other:abc"


def test_params_file_without_model_name_names_the_file_and_the_fix(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("target: y\n")
    with pytest.raises(UserError, match=rf"{params} has no model_name; .*MODEL_TAG"):
        default_model_name(params)


def test_the_makefile_reads_the_same_model_name():
    printed = subprocess.run(
        ["make", "-s", "--eval=print-model-name: ; @echo $(MODEL_NAME)", "print-model-name"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert printed.stdout.strip() == load_params()["model_name"]


def test_settings_hold_no_model_name_of_their_own():
    source = (PROJECT_ROOT / "service" / "settings.py").read_text()
    assert load_params()["model_name"] not in source
