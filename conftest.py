"""Test environment for every pytest run from this repository, whatever paths it is given
(``make test``, or ``pytest --nbval-lax notebooks/03_cnn.ipynb`` on its own).

Notebooks run by nbval start kernels that inherit this environment: the smoke profile, and every
file a test run writes goes to a temporary folder, not into the repository. Without it, a notebook
checked on its own would run its full profile (hours on a CPU) and write into runs/.
That folder (checkpoints of every smoke notebook: 533 MB, measured) is deleted when the test run ends;
set COURSE_KEEP_TEST_FILES=1 to keep it for a look.
"""
import os
import shutil
import tempfile
from pathlib import Path

_TMP = Path(tempfile.mkdtemp(prefix="course-tests-"))
os.environ["COURSE_PROFILE"] = "smoke"
os.environ["COURSE_RUN_DIR"] = str(_TMP / "run")
os.environ["COURSE_STANDIN_DIR"] = str(_TMP / "standin")
os.environ["COURSE_PROGRESS"] = "off"
import matplotlib  # noqa: E402

matplotlib.use("Agg")   # for this process only: the notebooks' kernels keep their inline backend and show figures


def pytest_collection_modifyitems(config, items):
    """nbval's notebook cells are integration tests: ``-m 'not integration'`` leaves them out."""
    import pytest

    for item in items:
        if str(item.fspath).endswith(".ipynb"):
            item.add_marker(pytest.mark.integration)


def pytest_unconfigure(config):
    """Delete the test run's temporary folder, unless COURSE_KEEP_TEST_FILES=1 asks to keep it."""
    if os.environ.get("COURSE_KEEP_TEST_FILES") == "1":
        print(f"\ntest files kept in {_TMP}")
        return
    shutil.rmtree(_TMP, ignore_errors=True)
