"""The test run's temporary folder (smoke checkpoints, about 530 MB) must not pile up in /tmp."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _collect_with_tmpdir(tmpdir, **env):
    """Run a short pytest (collection only) from the repository with TMPDIR pointing at tmpdir."""
    tmpdir.mkdir()
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--co",
                    "tests/test_gd.py"], cwd=ROOT, check=True, capture_output=True,
                   env={**os.environ, "TMPDIR": str(tmpdir), **env})
    return sorted(p.name for p in tmpdir.glob("course-tests-*"))


def test_temporary_run_folder_is_deleted_at_the_end(tmp_path):
    assert _collect_with_tmpdir(tmp_path / "t") == []


def test_temporary_run_folder_is_kept_when_asked(tmp_path):
    kept = _collect_with_tmpdir(tmp_path / "t", COURSE_KEEP_TEST_FILES="1")
    assert len(kept) == 1
