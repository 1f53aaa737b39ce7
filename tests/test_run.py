import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from helpers import run

ROOT = Path(__file__).resolve().parents[1]


def notebook(path: Path, *sources: str, params: str = "profile = None\ndata_dir = None") -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    first = nbformat.v4.new_code_cell(params)
    first.metadata["tags"] = ["parameters"]
    nb.cells = [first] + [nbformat.v4.new_code_cell(s) for s in sources]
    nbformat.write(nb, path)
    return path


def test_runner_runs_reports_and_names_the_failing_cell(tmp_path, capsys):
    ok = notebook(tmp_path / "01_ok.ipynb", "print('DATA: test pattern')", "print('profile is', profile)")
    bad = notebook(tmp_path / "02_bad.ipynb", "x = 1", "raise ValueError('broken on purpose')", "print('never')")
    code = run.main([str(ok), str(bad), "--profile", "smoke", "--output-dir", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    assert code == 1
    assert "02_bad.ipynb failed in cell 3" in out + err and "ValueError: broken on purpose" in err
    table = out[out.index("notebook"):]
    assert "01_ok.ipynb" in table and "ok" in table and "test pattern" in table and "FAILED" in table
    executed = json.loads((tmp_path / "out" / "01_ok.ipynb").read_text())
    printed = "".join("".join(o.get("text", "")) for c in executed["cells"] for o in c.get("outputs", []))
    assert "profile is smoke" in printed          # the profile was injected as a parameter


def test_a_run_in_parts_keeps_one_summary(tmp_path, monkeypatch, capsys):
    """A full run may come in several calls: the summary keeps every notebook once, the latest run of each."""
    monkeypatch.setenv("COURSE_RUN_DIR", str(tmp_path / "run"))
    a = notebook(tmp_path / "01_a.ipynb", "print('DATA: first')")
    b = notebook(tmp_path / "02_b.ipynb", "print('DATA: first')")
    out = ["--profile", "smoke", "--output-dir", str(tmp_path / "out")]
    assert run.main([str(a), str(b), *out]) == 0
    notebook(b, "print('DATA: second')")
    assert run.main([str(b), *out]) == 0
    summary = json.loads((tmp_path / "run" / "results" / "run_summary.json").read_text())
    assert [(o["notebook"], o["data"]) for o in summary["notebooks"]] == [("01_a.ipynb", "first"),
                                                                          ("02_b.ipynb", "second")]
    assert abs(summary["total_seconds"] - sum(o["seconds"] for o in summary["notebooks"])) < 1e-6
    assert "keeps 1 notebook(s) run earlier" in capsys.readouterr().out


def test_store_from_takes_a_run_made_elsewhere_and_only_what_finished(tmp_path, monkeypatch, capsys):
    """A run made on another machine (scripts/reproduce.sh) is stored here: the notebooks that ran to the
    end, with their records and figures; a failed one leaves its source as it was."""
    src = tmp_path / "src"
    src.mkdir()
    save = ("from helpers import results, profiles\n"
            "results.save('{n}_model', {{'test_acc': 0.5}}, profile)\n"
            "(profiles.run_dir(profile) / 'figures').mkdir(exist_ok=True)\n"
            "(profiles.run_dir(profile) / 'figures' / '{n}_curves.png').write_bytes(b'png')")
    ok = notebook(src / "03_ok.ipynb", save.format(n="03"), "print('trained')")
    bad = notebook(src / "04_bad.ipynb", save.format(n="04"), "raise ValueError('cut short')")
    before = bad.read_text()
    elsewhere = tmp_path / "elsewhere"
    monkeypatch.setenv("COURSE_RUN_DIR", str(elsewhere))
    assert run.main([str(ok), str(bad), "--profile", "smoke", "--output-dir", str(elsewhere / "notebooks")]) == 1
    here = tmp_path / "here"
    monkeypatch.setenv("COURSE_RUN_DIR", str(here))
    assert run.store_from(elsewhere, "smoke", notebooks_dir=src) == ["03_ok.ipynb"]
    stored = json.loads(ok.read_text())
    assert "trained" in "".join("".join(o.get("text", "")) for c in stored["cells"] for o in c.get("outputs", []))
    assert bad.read_text() == before
    assert sorted(p.name for p in (here / "results").glob("*.json")) == ["03_model.json", "run_summary.json"]
    assert [p.name for p in (here / "figures").glob("*.png")] == ["03_curves.png"]
    summary = json.loads((here / "results" / "run_summary.json").read_text())
    assert [o["notebook"] for o in summary["notebooks"]] == ["03_ok.ipynb"]
    assert summary["notebooks"][0]["device"].startswith(("cpu", "cuda", "mps"))
    assert "skipped 04_bad.ipynb: FAILED" in capsys.readouterr().out


def test_reproduce_script_packs_a_run_that_store_from_takes(tmp_path, monkeypatch):
    """scripts/reproduce.sh DATA OUT NOTEBOOK: the run lands in OUT and OUT.tgz; --store-from stores it."""
    (tmp_path / "data" / "cifar-10-batches-py").mkdir(parents=True)
    src = tmp_path / "src"
    src.mkdir()
    nb = notebook(src / "05_x.ipynb", "print('profile', profile)")
    out = tmp_path / "out"
    done = subprocess.run(["bash", str(ROOT / "scripts" / "reproduce.sh"), str(tmp_path / "data"), str(out), str(nb)],
                          capture_output=True, text=True, env={**os.environ, "PYTHON": sys.executable})
    assert done.returncode == 0, done.stdout + done.stderr
    assert (out / "notebooks" / "05_x.ipynb").is_file() and (tmp_path / "out.tgz").stat().st_size > 0
    monkeypatch.setenv("COURSE_RUN_DIR", str(tmp_path / "here"))
    assert run.store_from(out, "full", notebooks_dir=src) == ["05_x.ipynb"]
    assert "profile full" in nb.read_text()
    refused = subprocess.run(["bash", str(ROOT / "scripts" / "reproduce.sh"), str(tmp_path / "nodata"), str(out)],
                             capture_output=True, text=True)
    assert refused.returncode == 2 and "has no cifar-10-batches-py/" in refused.stderr


def test_store_from_names_a_folder_that_holds_no_run(tmp_path):
    try:
        run.store_from(tmp_path, "smoke", notebooks_dir=tmp_path)
    except SystemExit as e:
        assert "no readable results/run_summary.json" in str(e) and str(tmp_path) in str(e)
    else:
        raise AssertionError("an empty folder was taken for a run")


def test_runner_rejects_missing_notebooks(tmp_path, capsys):
    try:
        run.main([str(tmp_path / "nope.ipynb")])
    except SystemExit as e:
        assert e.code == 2
    assert "no such notebook" in capsys.readouterr().err


@pytest.mark.integration
def test_runner_command_line_on_notebook_00(tmp_path):
    res = subprocess.run([sys.executable, "-m", "helpers.run", "--profile", "smoke", "--output-dir",
                          str(tmp_path), str(ROOT / "notebooks" / "00_data.ipynb")],
                         capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "00_data.ipynb  ok" in res.stdout and "GENERATED" in res.stdout


def test_every_notebook_follows_the_conventions():
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = json.loads(path.read_text())
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        assert "parameters" in code[0]["metadata"].get("tags", []), f"{path.name}: first code cell not tagged"
        assert "profile = None" in "".join(code[0]["source"]), f"{path.name}: no profile parameter"
        assert sum(c["cell_type"] == "markdown" for c in nb["cells"]) >= 3, f"{path.name}: too little prose"
        assert not any("injected-parameters" in c["metadata"].get("tags", []) for c in nb["cells"]), path.name


def test_papermill_sees_every_parameter():
    """A parameter papermill cannot parse is silently never set by the runner (e.g. '=' in a comment)."""
    import ast
    import papermill as pm

    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = json.loads(path.read_text())
        cell = next(c for c in nb["cells"] if c["cell_type"] == "code")
        assigned = {t.id for node in ast.parse("".join(cell["source"])).body if isinstance(node, ast.Assign)
                    for t in node.targets if isinstance(t, ast.Name)}
        assert set(pm.inspect_notebook(str(path))) == assigned, path.name


def test_store_keeps_the_outputs_and_only_the_final_state_of_a_progress_bar(tmp_path, capsys):
    bar = ("import sys, time\nprint('before', flush=True)\n"
           "for i in range(1, 4):\n"
           "    sys.stderr.write(f'\\rtraining {i}/3'); sys.stderr.flush(); time.sleep(0.3)\n"
           "sys.stderr.write('\\n'); sys.stderr.flush(); print('after')")
    nb = notebook(tmp_path / "01_bar.ipynb", bar)
    executed = tmp_path / "out" / "01_bar.ipynb"
    assert run.main([str(nb), "--profile", "smoke", "--output-dir", str(tmp_path / "out"), "--store"]) == 0
    chunks = [o for o in nbformat.read(executed, 4).cells[-1].outputs if o.get("name") == "stderr"]
    assert len(chunks) > 1                       # the kernel sent the bar in pieces...
    outputs = nbformat.read(nb, 4).cells[-1].outputs
    assert [(o.name, o.text) for o in outputs] == [          # ...the stored notebook keeps what a reader sees
        ("stdout", "before\n"), ("stderr", "training 3/3\n"), ("stdout", "after\n")]
    assert nbformat.read(nb, 4).metadata.kernelspec == run.kernelspec()      # the installed kernel: no unsaved mark
    assert run.kernelspec()["display_name"] == "Python 3 (ipykernel)"


@pytest.mark.integration
def test_evaluation_notebook_alone_trains_stand_ins_under_their_own_names(tmp_path, monkeypatch, capsys):
    """Notebook 08 opened before 02-05 trains stand-ins; they must not pose as those notebooks' records."""
    run_dir = tmp_path / "run"
    monkeypatch.setenv("COURSE_RUN_DIR", str(run_dir))
    code = run.main([str(ROOT / "notebooks" / "08_evaluation.ipynb"), "--profile", "smoke",
                     "--output-dir", str(tmp_path / "out")])
    assert code == 0, capsys.readouterr()
    names = {p.stem for p in (run_dir / "results").glob("*.json")}
    notebooks = ("02_mlp_best", "03_cnn_best", "04_resnet_best", "05_vit_best")
    assert {f"08_standin_{n}" for n in notebooks} <= names
    assert not names & set(notebooks)               # the report would take these for 02-05's results
    rows = json.loads((run_dir / "results" / "08_test_table.json").read_text())["rows"]
    assert [r["model"] for r in rows] == list(notebooks)
    assert all(r["weights"] == f"stand-in trained here (08_standin_{r['model']})" for r in rows)


def test_jobs_run_notebooks_side_by_side_and_08_waits_for_the_checkpoints_it_reads(tmp_path, monkeypatch):
    """Two notebooks at a time; 08 starts only after 07 (whose checkpoint it reads) has finished."""
    monkeypatch.setenv("COURSE_RUN_DIR", str(tmp_path / "run"))
    log = tmp_path / "log.txt"
    step = ("import time, pathlib\nlog = pathlib.Path({log!r})\n"
            "log.open('a').write('{n} start ' + str(time.time()) + '\\n')\ntime.sleep({sleep})\n"
            "log.open('a').write('{n} end ' + str(time.time()) + '\\n')")
    nbs = [notebook(tmp_path / f"{n}_x.ipynb", step.format(log=str(log), n=n, sleep=s), "print('DATA: none')")
           for n, s in (("06", 3), ("07", 3), ("08", 0))]
    assert run.main([*map(str, nbs), "--profile", "smoke", "--jobs", "2", "--output-dir", str(tmp_path / "out")]) == 0
    events = {tuple(line.split()[:2]): float(line.split()[2]) for line in log.read_text().splitlines()}
    assert events[("07", "start")] < events[("06", "end")]          # 06 and 07 ran side by side
    assert events[("08", "start")] >= events[("07", "end")]         # 08 waited for 07
    summary = json.loads((tmp_path / "run" / "results" / "run_summary.json").read_text())
    assert [o["notebook"] for o in summary["notebooks"]] == ["06_x.ipynb", "07_x.ipynb", "08_x.ipynb"]
    last = summary["last_call"]
    assert last["jobs"] == 2 and last["wall_seconds"] > 0 and last["notebooks"] == ["06_x.ipynb", "07_x.ipynb", "08_x.ipynb"]


@pytest.mark.integration
def test_jobs_2_stores_the_numbers_of_a_sequential_run(tmp_path, monkeypatch):
    """The smoke profile of two course notebooks, one after the other and side by side (one thread
    per kernel in both): the same records, epoch by epoch, and the same printed outputs."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    picked = [str(ROOT / "notebooks" / n) for n in ("02_mlp.ipynb", "04_resnet.ipynb")]
    records = {}
    for jobs in (1, 2):
        monkeypatch.setenv("COURSE_RUN_DIR", str(tmp_path / f"run{jobs}"))
        out = tmp_path / f"out{jobs}"
        assert run.main([*picked, "--profile", "smoke", "--jobs", str(jobs), "--output-dir", str(out)]) == 0
        recs = {}
        for f in sorted((tmp_path / f"run{jobs}" / "results").glob("0[24]_*.json")):
            r = json.loads(f.read_text())
            recs[f.stem] = [{k: v for k, v in h.items() if k != "seconds"} for h in r.get("histories", [])] \
                + [r.get("test_acc")]
        records[jobs] = recs
    assert records[1] and records[1] == records[2]


def test_committed_notebooks_name_the_installed_kernel():
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        assert nbformat.read(path, 4).metadata.kernelspec == run.kernelspec(), path.name


def test_parameters_reach_the_notebooks_that_have_them_and_unknown_names_are_refused(tmp_path, capsys):
    """-p NAME VALUE sets a notebook parameter (a literal stays a number, other text a string)."""
    nb = notebook(tmp_path / "01_p.ipynb", "print('epochs', repr(epochs), 'note', repr(note))",
                  params="profile = None\ndata_dir = None\nepochs = None\nnote = None")
    out = ["--profile", "smoke", "--output-dir", str(tmp_path / "out")]
    assert run.main([str(nb), "-p", "epochs", "1", "-p", "note", "two words", *out]) == 0
    executed = json.loads((tmp_path / "out" / "01_p.ipynb").read_text())
    printed = "".join("".join(o.get("text", "")) for c in executed["cells"] for o in c.get("outputs", []))
    assert "epochs 1 note 'two words'" in printed
    with pytest.raises(SystemExit):
        run.main([str(nb), "-p", "epoch", "1", *out])
    err = capsys.readouterr().err
    assert "parameter(s) epoch" in err and "epochs" in err
    with pytest.raises(SystemExit):
        run.main([str(nb), "-p", "profile", "full", *out])                   # the runner's own option
    assert "--profile" in capsys.readouterr().err
