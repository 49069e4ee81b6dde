"""Every test runs against its own BentoML store: never the user's ~/bentoml."""

import os
import shutil
import sys
import tempfile
from pathlib import Path

# Set before anything imports bentoml, which reads BENTOML_HOME once.
_STORE = Path(tempfile.mkdtemp(prefix="test-bentoml-home-"))
os.environ["BENTOML_HOME"] = str(_STORE)
os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")

sys.path.insert(0, str(Path(__file__).resolve().parent))  # for `support`


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_STORE, ignore_errors=True)


import pytest  # noqa: E402
from support.datasets import mixed_overrides, write_mixed_csv  # noqa: E402
from support.pipeline_runs import printed_tag, run_pipeline  # noqa: E402


class Run:
    """A finished pipeline run: its process, run directory and exported tag."""

    def __init__(self, done, run_dir: Path):
        assert done.returncode == 0, f"pipeline failed:\n{done.stdout}\n{done.stderr}"
        self.done = done
        self.run_dir = run_dir
        self.tag = printed_tag(done)


@pytest.fixture(scope="session")
def iris_run(tmp_path_factory) -> Run:
    """The default pipeline on data/iris.csv, run once for every test that needs it."""
    run_dir = tmp_path_factory.mktemp("runs") / "iris"
    return Run(run_pipeline(run_dir=run_dir), run_dir)


@pytest.fixture(scope="session")
def mixed_csv(tmp_path_factory) -> Path:
    return write_mixed_csv(tmp_path_factory.mktemp("data") / "churn.csv")


@pytest.fixture(scope="session")
def mixed_run(tmp_path_factory, mixed_csv) -> Run:
    """The pipeline on a generated CSV with categorical columns, gaps and integer labels."""
    run_dir = tmp_path_factory.mktemp("runs") / "churn"
    return Run(run_pipeline(*mixed_overrides(mixed_csv), run_dir=run_dir), run_dir)


@pytest.fixture(scope="module")
def spark():
    """One local[2] session for the in-process Spark runs of a module, stopped at its end."""
    from scripts.batch.spark_session import SessionStart

    environment = dict(os.environ)
    starting = SessionStart(None, 2, [])
    yield starting.get()
    starting.stop()
    os.environ.clear()
    os.environ.update(environment)  # PYSPARK_PYTHON, SPARK_LOCAL_IP, PYTHONWARNINGS
