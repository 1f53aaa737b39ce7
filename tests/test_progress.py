import nbformat
import pytest
from nbclient import NotebookClient

from helpers import progress


def run_cells(*sources: str, env_mode: str = "auto") -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    setup = f"import os; os.environ['COURSE_PROGRESS'] = {env_mode!r}"
    nb.cells.insert(0, nbformat.v4.new_code_cell(setup))
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    return nb


def test_a_bar_in_a_kernel_is_stored_as_one_final_line_of_plain_text():
    """What papermill and nbconvert store, and a reopened notebook shows: the bar's last state, once,
    as text/plain; no stderr stream (the pink box), no carriage-return chunks, no widget."""
    nb = run_cells("from helpers import training\n"
                   "bar = training.progress_bar(40)\n"
                   "for i in range(40):\n"
                   "    bar.update(1)\n"
                   "    bar.set_postfix_str(f'epoch {i + 1}/40')\n"
                   "bar.close()\n"
                   "print('after')")
    outputs = nb.cells[1].outputs
    assert [o.output_type for o in outputs] == ["display_data", "stream"]
    line = outputs[0].data["text/plain"]
    assert "training: 100%" in line and "40/40" in line and "epoch 40/40" in line and "\r" not in line
    assert outputs[1].name == "stdout" and outputs[1].text == "after\n"
    assert not any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs)


def test_text_and_off_modes_in_a_kernel():
    nb = run_cells("from helpers import progress\n"
                   "b = progress.bar(5, 'steps')\n"
                   "b.update(5); b.close()", env_mode="text")
    assert {(o.output_type, o.name) for o in nb.cells[1].outputs} == {("stream", "stderr")}
    nb = run_cells("from helpers import progress\nb = progress.bar(5, 'steps')\nb.update(5); b.close()",
                   env_mode="off")
    assert nb.cells[1].outputs == []


def test_outside_a_kernel_the_bar_is_tqdm_text_and_a_bad_mode_is_named(monkeypatch, capsys):
    assert not progress.in_kernel()
    monkeypatch.setenv("COURSE_PROGRESS", "auto")
    b = progress.bar(3, "steps")
    b.update(3)
    b.close()
    assert "steps: 100%" in capsys.readouterr().err
    monkeypatch.setenv("COURSE_PROGRESS", "loud")
    with pytest.raises(ValueError, match="COURSE_PROGRESS must be auto, text or off, got 'loud'"):
        progress.bar(3, "steps")
