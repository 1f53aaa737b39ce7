import os
import subprocess
import sys

import pytest

from helpers import files


def test_atomic_files_get_the_usual_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        path = files.save_atomic(b"data", tmp_path / "f.json")
    finally:
        os.umask(umask)
    assert path.read_bytes() == b"data" and (path.stat().st_mode & 0o777) == 0o644


def test_a_killed_writers_temp_file_is_removed_by_the_next_write(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        stale = tmp_path / f".last.pt.pid{dead}.abc123.tmp"
        live = tmp_path / f".last.pt.pid{sleeper.pid}.def456.tmp"      # a writer still at work
        stale.write_bytes(b"half"), live.write_bytes(b"half")
        files.save_atomic(b"whole", tmp_path / "last.pt")
        assert not stale.exists() and live.exists()
        assert (tmp_path / "last.pt").read_bytes() == b"whole"
    finally:
        sleeper.kill()


def test_an_error_inside_the_block_leaves_the_old_file_and_no_temp(tmp_path):
    path = tmp_path / "record.json"
    files.save_atomic("old", path)
    with pytest.raises(RuntimeError, match="half-way"):
        with files.atomic_writer(path, "w") as f:
            f.write("new, but not finished")
            raise RuntimeError("stopped half-way")
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["record.json"]
