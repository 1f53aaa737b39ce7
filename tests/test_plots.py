import os

import matplotlib.pyplot as plt

from helpers import plots


def test_save_writes_a_png_with_the_usual_mode_and_leaves_no_temporary_file(tmp_path):
    old = os.umask(0o022)
    try:
        for value in (1, 2):                         # the second save replaces the first
            fig, ax = plt.subplots()
            ax.plot([0, value])
            ax.set(title="t", xlabel="x", ylabel="y")
            plots.save(fig, tmp_path / "sub" / "fig.png")
            plt.close(fig)
    finally:
        os.umask(old)
    path = tmp_path / "sub" / "fig.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_mode & 0o777 == 0o644       # readable by others, as a file a user saves
    assert [p.name for p in path.parent.iterdir()] == ["fig.png"]
