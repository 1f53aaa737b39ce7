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


def test_curves_plot_the_mean_over_seeds_and_loglog_sets_both_axes():
    import numpy as np
    from helpers.training import History

    seeds = [History(epoch=[0, 1, 2], train_loss=[2.0, 1.0, 0.5], val_acc=[0.2, 0.4, 0.5]),
             History(epoch=[0, 1, 2], train_loss=[4.0, 2.0, 1.5], val_acc=[0.4, 0.6, 0.7])]
    for loglog, scale in ((False, "linear"), (True, "log")):
        fig = plots.curves({"run": seeds}, title="t", loglog=loglog)
        loss_ax, acc_ax = fig.axes[:2]
        assert {loss_ax.get_xscale(), loss_ax.get_yscale(), acc_ax.get_yscale()} == {scale}
        np.testing.assert_allclose(loss_ax.lines[0].get_ydata(), [3.0, 1.5, 1.0])
        np.testing.assert_allclose(acc_ax.lines[0].get_xdata(), [1, 2, 3])   # epochs count from 1 on a log axis
        plt.close(fig)


def test_grouped_bars_label_both_axes_and_refuse_a_short_series():
    fig = plots.grouped_bars({"frozen": [0.8, 0.6], "fine-tuned": [0.7, 0.9]}, ["a", "b"],
                             title="t", ylabel="validation accuracy", xlabel="backbone")
    ax = fig.axes[0]
    assert (ax.get_title(), ax.get_xlabel(), ax.get_ylabel()) == ("t", "backbone", "validation accuracy")
    assert sorted(round(p.get_height(), 2) for p in ax.patches) == [0.6, 0.7, 0.8, 0.9]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["frozen", "fine-tuned"]
    plt.close(fig)
    try:
        plots.grouped_bars({"frozen": [0.8]}, ["a", "b"], title="t", ylabel="y", xlabel="x")
    except ValueError as e:
        assert "'frozen' has 1 values for 2 names" in str(e)
    else:
        raise AssertionError("a series shorter than the names was accepted")
