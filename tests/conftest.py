"""Shared fixtures. Tests never read ../shared: they generate their own tiny datasets
in the standard on-disk formats."""
from pathlib import Path

import pytest

# The smoke-profile environment every test (and nbval kernel) runs in is set by ../conftest.py.


@pytest.fixture(scope="session")
def standin(tmp_path_factory) -> Path:
    """A folder with generated CIFAR-10, CIFAR-100 and STL-10 in the standard layouts."""
    from helpers.data import make_standin

    return make_standin(tmp_path_factory.mktemp("standin"))


@pytest.fixture(scope="session")
def cifar_splits(standin):
    from helpers import data

    return data.splits("cifar10", standin, seed=0)
