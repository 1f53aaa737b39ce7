"""Writing files so that a crash never leaves a half-written one: the course's one atomic write.

``atomic_writer(path)`` opens a temporary file beside ``path`` and renames it over ``path`` only
when the ``with`` block ends without an error; ``save_atomic(obj, path)`` writes bytes, text or
anything ``torch.save`` takes through it. Checkpoints, result records, figures, the report,
generated datasets, prediction files and stored notebooks are all written this way.

The temporary file's name carries the writer's process id (``.NAME.pid1234.XXXX.tmp``), so the
next write of the same file can remove what a killed writer left behind.
"""
from __future__ import annotations

import contextlib
import glob
import os
import tempfile
from pathlib import Path

__all__ = ["atomic_writer", "save_atomic", "remove_stale_temps"]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:       # alive, but another user's
        return True
    return True


def remove_stale_temps(path: str | Path) -> list[Path]:
    """Delete the temporary files that killed writers of ``path`` left beside it (their process is
    gone). Returns the files removed."""
    path = Path(path)
    removed = []
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.pid*.tmp"):
        pid = tmp.name[len(path.name) + 5:].split(".", 1)[0]
        if pid.isdigit() and not _pid_alive(int(pid)):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


@contextlib.contextmanager
def atomic_writer(path: str | Path, mode: str = "wb"):
    """``with atomic_writer(path, "w") as f: ...``: ``f`` is a temporary file beside ``path``, renamed
    over it (with the usual file mode, flushed to disk) when the block ends; an error inside the
    block leaves ``path`` as it was and no temporary file behind."""
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb', got {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.pid{os.getpid()}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)       # mkstemp makes owner-only files; give the usual mode
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def save_atomic(obj, path: str | Path) -> Path:
    """Write ``obj`` (bytes, text, or anything ``torch.save`` takes) to ``path`` atomically."""
    with atomic_writer(path, "w" if isinstance(obj, str) else "wb") as f:
        if isinstance(obj, (bytes, str)):
            f.write(obj)
        else:
            import torch

            torch.save(obj, f)
    return Path(path)
