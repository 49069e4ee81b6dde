"""Which optional libraries a version needs to serve, and the line that stops start-up."""

from dataclasses import replace
from pathlib import Path

from support.store_entries import METADATA

from service.model.version import ModelVersion
from service.scoring.libraries import (
    GX,
    Library,
    Need,
    gx_need,
    installed,
    missing_line,
    needs,
    sklearn_need,
)

COMPILED = {
    "type": "expect_column_values_to_be_between",
    "kwargs": {"column": "x", "min_value": 0, "max_value": 1},
}
GX_ONLY = {
    "type": "expect_column_mean_to_be_between",
    "kwargs": {"column": "x", "min_value": 0, "max_value": 1},
}
ABSENT = Library("a library nobody installed", "absent", ("no_such_module_for_this_test",))


def test_a_fully_compiled_suite_does_not_need_gx():
    need = gx_need({"expectations": [COMPILED, COMPILED]})
    assert need.needed is False
    assert need.reason == "all 2 expectations are compiled"


def test_a_rule_the_compiled_checks_hand_over_needs_gx_and_is_named():
    need = gx_need({"expectations": [COMPILED, GX_ONLY]})
    assert need.needed is True
    assert "expect_column_mean_to_be_between on x" in need.reason


def test_the_gx_engine_needs_gx_whatever_the_suite():
    assert gx_need({"expectations": [COMPILED]}, validation_engine="gx").needed is True


def test_installed_looks_without_importing():
    assert installed(GX) is True  # the dev environment keeps every library
    assert installed(ABSENT) is False


def test_a_needed_library_that_is_absent_gives_one_line():
    line = missing_line("iris:v1", [Need(ABSENT, True, "because"), Need(GX, True, "also")])
    assert line is not None and "\n" not in line
    assert line.startswith("iris:v1 needs a library nobody installed (because)")
    assert "[absent]" in line and "Great Expectations" not in line  # GX is installed here


def test_nothing_to_say_when_absent_libraries_are_not_needed():
    assert missing_line("iris:v1", [Need(ABSENT, False, "not used")]) is None


def _version(serving_format: str) -> ModelVersion:
    metadata = replace(METADATA, serving_format=serving_format)
    return ModelVersion(
        "m:1", Path("."), metadata, None, {"expectations": [COMPILED]}, {}, {}, {}, {}
    )


def test_a_version_without_onnx_needs_scikit_learn_and_says_why():
    need = sklearn_need(_version("skops"))
    assert need.needed is True
    assert need.reason == "m:1 has no ONNX graph (not tried)"


def test_an_onnx_version_needs_scikit_learn_only_when_asked():
    assert sklearn_need(_version("onnx")).needed is False
    assert sklearn_need(_version("onnx"), prediction_engine="sklearn").needed is True
    assert [n.library.extra for n in needs(_version("onnx"))] == ["gx", "sklearn"]
