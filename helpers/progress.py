"""Progress bars that read well live, after a notebook is saved and reopened, and in stored outputs.

In a Jupyter kernel a bar is one line of plain text that is updated in place through an IPython
display handle. JupyterLab shows it moving. The saved notebook (papermill's and nbconvert's too, and
an HTML export) keeps only its last state: no stderr box, no ``\\r`` chunks, and no widget that needs
a live front end. Elsewhere (a terminal, a script) it is tqdm's text bar on stderr.

``$COURSE_PROGRESS`` picks the form: ``auto`` (the above), ``text`` (tqdm's text bar on stderr, also
in a kernel) or ``off``.
"""
from __future__ import annotations

import io
import os

from tqdm import tqdm

MODES = ("auto", "text", "off")


def in_kernel() -> bool:
    """True inside a Jupyter kernel (JupyterLab, papermill, nbconvert), False in a terminal or script."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


class DisplayBar(tqdm):
    """A tqdm bar drawn into one display output of the kernel, as plain text, instead of a stream."""

    def __init__(self, *args, **kwargs):
        from IPython.display import display
        self._handle = display({"text/plain": ""}, raw=True, display_id=True)
        kwargs["file"] = io.StringIO()          # tqdm's own writes (the final newline) go nowhere
        super().__init__(*args, **kwargs)

    def display(self, msg=None, pos=None):
        self._handle.update({"text/plain": msg if msg is not None else self.__str__()}, raw=True)
        return True


def bar(total: int, desc: str, unit: str = "step", enabled: bool = True) -> tqdm:
    """A progress bar of ``total`` steps in the form ``$COURSE_PROGRESS`` asks for (see the module)."""
    mode = os.environ.get("COURSE_PROGRESS", "auto") if enabled else "off"
    if mode not in MODES:
        raise ValueError(f"COURSE_PROGRESS must be auto, text or off, got {mode!r}")
    options = dict(total=total, desc=desc, unit=unit, leave=True, disable=mode == "off")
    if mode == "auto" and in_kernel():
        return DisplayBar(**options, mininterval=1.0, ascii=True)
    return tqdm(**options, mininterval=15.0 if mode == "text" else 1.0, ascii=mode == "text")
