"""Test environment for every pytest run from this repository, whatever paths it is given
(``make test``, or ``pytest --nbval-lax notebooks/03_cnn.ipynb`` on its own).

Notebooks run by nbval start kernels that inherit this environment: the smoke profile, and every
file a test run writes goes to a temporary folder, not into the repository. Without it, a notebook
checked on its own would run its full profile (hours on a CPU) and write into runs/.
"""
import os
import tempfile
from pathlib import Path

_TMP = Path(tempfile.mkdtemp(prefix="course-tests-"))
os.environ["COURSE_PROFILE"] = "smoke"
os.environ["COURSE_RUN_DIR"] = str(_TMP / "run")
os.environ["COURSE_STANDIN_DIR"] = str(_TMP / "standin")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ["COURSE_PROGRESS"] = "off"
