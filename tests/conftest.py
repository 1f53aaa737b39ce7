"""Shared fixtures. Tests never read ../shared: they generate their own tiny datasets
in the standard on-disk formats."""
import os
import tempfile
from pathlib import Path

import pytest

# Notebooks run by nbval start kernels that inherit this environment: smoke profile,
# and every file a test run writes goes to a temporary folder, not into the repository.
_TMP = Path(tempfile.mkdtemp(prefix="course-tests-"))
os.environ["COURSE_PROFILE"] = "smoke"
os.environ["COURSE_RUN_DIR"] = str(_TMP / "run")
os.environ["COURSE_STANDIN_DIR"] = str(_TMP / "standin")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ["COURSE_PROGRESS"] = "off"


@pytest.fixture(scope="session")
def standin(tmp_path_factory) -> Path:
    """A folder with generated CIFAR-10, CIFAR-100 and STL-10 in the standard layouts."""
    from helpers.data import make_standin

    return make_standin(tmp_path_factory.mktemp("standin"))


@pytest.fixture(scope="session")
def cifar_splits(standin):
    from helpers import data

    return data.splits("cifar10", standin, seed=0)
