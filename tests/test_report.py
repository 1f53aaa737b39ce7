import json
import os
import re
import shutil
import subprocess

import matplotlib.pyplot as plt
import pytest
import torch.nn as nn

from helpers import experiment, plots, report, results


def tiny():
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10))


@pytest.fixture(scope="module")
def smoke_run(cifar_splits, tmp_path_factory):
    """A small smoke run: two result records, two figures and the runner's summary."""
    run = tmp_path_factory.mktemp("run")
    old = os.environ.get("COURSE_RUN_DIR")
    os.environ["COURSE_RUN_DIR"] = str(run)
    try:
        train, val, test = cifar_splits
        for name in ("02_mlp_best", "03_cnn_best"):
            experiment.run(name, tiny, train, val, test, epochs=1, profile="smoke")
        for name in ("00_data_grid", "02_mlp_curves"):
            fig, ax = plt.subplots()
            ax.plot([0, 1], [1, 0])
            ax.set(title=name, xlabel="x", ylabel="y")
            plots.save(fig, run / "figures" / f"{name}.png")
            plt.close(fig)
        results.save("run_summary", {"notebooks": [
            {"notebook": "02_mlp.ipynb", "status": "ok", "seconds": 3.5, "device": "cuda (NVIDIA H200)",
             "data": "GENERATED stand-in data in runs/standin, not real results"}], "total_seconds": 3.5}, "smoke")
    finally:
        if old is None:
            os.environ.pop("COURSE_RUN_DIR")
        else:
            os.environ["COURSE_RUN_DIR"] = old
    return run


def test_report_builds_with_every_section_and_table(smoke_run, tmp_path):
    md_path, html_path = report.build(smoke_run, tmp_path / "report", "smoke")
    md = md_path.read_text()
    assert "not results" in md.split("## Run")[0]                     # the smoke warning comes first
    for title, _, _ in report.SECTIONS:
        assert f"## {title}\n" in md
    assert "## Compared with the source reports" in md and "## The four questions" in md
    row = next(line for line in md.splitlines() if line.startswith("| MLP | B |"))
    assert "42.42 %" in row and "not comparable" in row and "points" not in row   # Kaggle's set is not ours
    assert md.count("| record | model |") == 2                          # tables for the two notebooks with records
    assert "02_mlp.ipynb | ok | 3.5 s | cuda (NVIDIA H200) |" in md      # each notebook's device
    page = html_path.read_text()
    assert page.count("data:image/png;base64,") == 2 and "<table>" in page
    assert not re.search(r'src="(?!data:)', page)                        # nothing refers to files outside


def test_report_shows_record_text_as_text_never_as_markup(smoke_run, tmp_path):
    """A record is data: a <script> in it (a model name, a row of a saved table) must not run in the page."""
    evil = "<script>alert(1)</script>"
    (smoke_run / "results" / "08_test_table.json").write_text(json.dumps(
        {"name": "08_test_table", "rows": [{"model": evil, "weights": "a | b", "test accuracy": 0.5}]}))
    summary = json.loads((smoke_run / "results" / "run_summary.json").read_text())
    summary["notebooks"][0]["device"] = evil
    (smoke_run / "results" / "run_summary.json").write_text(json.dumps(summary))
    md_path, html_path = report.build(smoke_run, tmp_path / "report", "smoke")
    page = html_path.read_text()
    assert "<script>" not in page and page.count("&lt;script&gt;alert(1)&lt;/script&gt;") == 2
    row = next(line for line in md_path.read_text().splitlines() if "alert(1)" in line and "a \\| b" in line)
    assert row.count(" | ") == 2                                     # three cells: the "|" stayed inside one


def test_report_refuses_missing_figures_and_missing_runs(smoke_run, tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        report.to_html("![x](nowhere.png)", tmp_path)
    assert report.main(["--run-dir", str(tmp_path / "empty"), "--out", str(tmp_path / "r")]) == 1
    assert "run the notebooks first" in capsys.readouterr().err



def test_report_publishes_the_runs_figures_and_records_beside_it(smoke_run, tmp_path):
    figures = tmp_path / "figures"
    figures.mkdir()
    (figures / "99_stale_from_an_older_run.png").write_bytes(b"old")
    md_path, html_path = report.build(smoke_run, tmp_path / "report", "smoke", figures)
    assert sorted(p.name for p in figures.iterdir()) == ["00_data_grid.png", "02_mlp_curves.png"]
    assert sorted(p.name for p in (tmp_path / "report" / "results").iterdir()) == sorted(
        p.name for p in (smoke_run / "results").iterdir())
    md = md_path.read_text()
    assert "](../figures/00_data_grid.png)" in md and str(smoke_run) not in md
    assert html_path.read_text().count("data:image/png;base64,") == 2


def _full_run(path, data_by_notebook, records=()):
    """A full-profile run folder written by hand: records with test numbers and the runner's summary."""
    (path / "results").mkdir(parents=True)
    for name, rec in records:
        (path / "results" / f"{name}.json").write_text(json.dumps({"name": name, "profile": "full", **rec}))
    (path / "results" / "run_summary.json").write_text(json.dumps({"notebooks": [
        {"notebook": nb, "status": "ok", "seconds": 1.0, "data": line} for nb, line in data_by_notebook.items()],
        "total_seconds": float(len(data_by_notebook))}))
    return path


def test_a_run_missing_one_notebook_names_it_in_the_singular(tmp_path):
    real = "real cifar10 (the original files, official checksums) from data"
    names = [prefix for _, prefix, _ in report.SECTIONS if not prefix.startswith("08")]
    run = _full_run(tmp_path / "run", {f"{prefix}.ipynb": real for prefix in names})
    top = report.build_markdown(run, tmp_path / "report", "full").split("## Run")[0]
    assert "A partial run:** notebook 08 has not run in it; its section says so." in top


def test_report_of_a_real_run_names_only_the_notebooks_that_used_stand_in_data(tmp_path):
    """A full run whose only stand-in is STL-10 (not to be had offline) is a real run with one caveat."""
    real = "real cifar10 (the original files, official checksums) from data"
    standin = ("GENERATED stand-in data in runs/standin, not real results: stl10 not found: looked in data. "
               "Get it with helpers.data.load('stl10', root, download=True) where there is internet " + "x" * 200)
    run = _full_run(tmp_path / "run", {
        "00_data.ipynb": f"{real} | {standin}", "01_gradient_descent.ipynb": "none", "09_transfer.ipynb": real},
        [("03_speedrun", {"test_acc": 0.9387, "parameters": 1_000, "seconds": 2.0, "device": "cpu"}),
         ("03_cnn_best", {"test_acc": 0.9, "model": {"name": "cnn3", "kwargs": {}}, "architecture": "CNN3"}),
         ("03_built_by_hand", {"test_acc": 0.8, "model": None, "architecture": "ConvNet"}),
         ("09_finetune_target", {"test_acc": 0.8358, "best_val_acc": 0.88, "config": {"target": "cifar10-fewshot"}}),
         ("09_backbones", {"rows": []}),
         ("08_test_table", {"rows": [{"model": "03_cnn_best", "test accuracy": 0.91234}, {"model": "x"}]})])
    md = report.build_markdown(run, tmp_path / "report", "full")
    top = md.split("## Run")[0]
    assert "Part of this run used generated stand-in data" in top and "00_data.ipynb" in top
    assert "01_gradient_descent.ipynb" not in top and "09_transfer" not in top and "are not results" not in top
    data_row = next(line for line in md.splitlines() if line.startswith("| data |"))
    assert data_row.count(" | ") == 1                              # two cells: a "|" in a data line is escaped
    assert data_row.count("real cifar10") == 1 and f"{real} (notebooks 00, 09)" in data_row
    assert "not found: looked in data. …" in data_row and "Get it with" not in data_row   # the advice is cut
    assert "A partial run:** notebooks 02, 04, 05, 06, 07 have not run" in top   # 00, 01 ran; 03, 08, 09 left records
    cnn = md.split("## CNN")[1].split("\n## ")[0]
    assert "| 03_speedrun |" in cnn and "93.87 %" in cnn          # a record with no validation set is listed
    assert "| 03_cnn_best | cnn3 |" in cnn and "| 03_built_by_hand | ConvNet |" in cnn   # spec name, else class
    row = next(line for line in md.splitlines() if line.startswith("| Fine-tuned from CIFAR-100 to STL-10"))
    assert "83.58 % (09_finetune_target) | few-shot CIFAR-10, a stand-in for STL-10 |" in row   # what ours measured
    assert "not comparable" in row and "points" not in row
    assert "09_backbones: no rows in this run" in md.split("## Transfer learning")[1]
    evaluation = md.split("## Test evaluation")[1].split("\n## ")[0]
    assert "| model | test accuracy |" in evaluation and "| 03_cnn_best | 0.9123 |" in evaluation
    assert "| x | – |" in evaluation                           # a missing cell is a dash, not an error
    assert "Notebook 05 has not run in this run" in md.split("## ViT")[1].split("\n## ")[0]


def test_report_of_a_run_entirely_on_stand_in_data_says_it_is_not_results(tmp_path):
    line = "GENERATED stand-in data in runs/standin, not real results: cifar10 not found"
    run = _full_run(tmp_path / "run", {"01_gradient_descent.ipynb": "none", "02_mlp.ipynb": line,
                                       "03_cnn.ipynb": line})
    top = report.build_markdown(run, tmp_path / "report", "full").split("## Run")[0]
    assert "are not results" in top and "Part of this run" not in top


def test_a_quick_run_says_so_and_never_overwrites_the_full_report(tmp_path, capsys):
    run = _full_run(tmp_path / "run", {"02_mlp.ipynb": "real cifar10 (the original files, official checksums) from data"})
    top = report.build_markdown(run, tmp_path / "report", "quick").split("## Run")[0]
    assert "quick profile" in top and "not results" not in top
    committed = report.profiles.REPO_ROOT / "report" / "report.md"
    before = committed.read_bytes() if committed.exists() else None
    assert report.main(["--profile", "quick", "--run-dir", str(run)]) == 1      # default --out: the repo's report
    assert "--out" in capsys.readouterr().err
    assert (committed.read_bytes() if committed.exists() else None) == before


CHECK = """<script>
window.__errors = 0;
window.addEventListener("error", () => { window.__errors += 1; }, true);
window.addEventListener("load", () => {
  const imgs = [...document.images];
  const ok = imgs.filter(i => i.complete && i.naturalWidth > 0).length;
  document.body.setAttribute("data-check", `images ${imgs.length} loaded ${ok} errors ${window.__errors}`);
});
</script></body>"""


@pytest.mark.integration
def test_report_html_opens_in_headless_chromium(smoke_run, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing on CI: .ci/run installs it (apt-get install chromium)")
        pytest.skip("chromium not installed (Debian: apt-get install chromium); CI runs this test")
    _, html_path = report.build(smoke_run, tmp_path / "report", "smoke")
    probe = tmp_path / "probe.html"
    probe.write_text(html_path.read_text().replace("</body>", CHECK))
    res = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                          "--disable-background-networking", "--disable-component-update", "--disable-sync",
                          f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
                          "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()],
                         capture_output=True, text=True, timeout=120)
    found = re.search(r'data-check="images (\d+) loaded (\d+) errors (\d+)"', res.stdout)
    assert found, f"chromium printed no result: {res.stderr[-2000:]}"
    images, loaded, errors = map(int, found.groups())
    assert images == 2 and loaded == images and errors == 0
    console = [line for line in res.stderr.splitlines() if "CONSOLE" in line and "probe.html" in line]
    assert not console, console


@pytest.mark.parametrize("text, match", [
    ('{"test_acc": 0.9,', r"03_cnn_best.json is not valid JSON .*damaged"),
    ('[1, 2]', r"03_cnn_best.json holds a JSON list, not an object"),
    ('{"test_acc": "high"}', r"03_cnn_best.json: 'test_acc' is 'high' \(str\), expected int or float or NoneType"),
    ('{"model": "cnn3"}', r"03_cnn_best.json: 'model' is 'cnn3'"),
    ('{"rows": [1, 2]}', r"03_cnn_best.json: 'rows' item 0 is not an object"),
])
def test_a_damaged_record_is_named_with_what_to_do(tmp_path, capsys, text, match):
    run = _full_run(tmp_path / "run", {"03_cnn.ipynb": "real cifar10"})
    (run / "results" / "03_cnn_best.json").write_text(text)
    with pytest.raises(results.RecordError, match=match + r".*Delete it and rerun the notebook"):
        report.build_markdown(run, tmp_path / "report", "full")
    assert report.main(["--run-dir", str(run), "--out", str(tmp_path / "report")]) == 1
    assert "03_cnn_best.json" in capsys.readouterr().err and not (tmp_path / "report" / "report.md").exists()


def test_an_ill_formed_run_summary_is_named(tmp_path):
    run = _full_run(tmp_path / "run", {"03_cnn.ipynb": "real cifar10"})
    (run / "results" / "run_summary.json").write_text(json.dumps({"notebooks": [{"notebook": "03_cnn.ipynb"}]}))
    with pytest.raises(results.RecordError, match=r"run_summary.json: notebook entry 0 lacks \['status', 'seconds'\]"):
        report.build_markdown(run, tmp_path / "report", "full")


def test_report_compares_like_with_like_and_shows_every_figure_but_no_stand_in_as_data(tmp_path):
    """A small real run with the STL-10 stand-in: records of each kind, figures of several notebooks."""
    real = "real cifar10 (the original files, official checksums) from data"
    standin = "GENERATED stand-in data in runs/standin, not real results: stl10 not found: looked in data"
    run = _full_run(tmp_path / "run", {"00_data.ipynb": f"{real} | {standin}", "03_cnn.ipynb": real,
                                       "09_transfer.ipynb": real}, [
        ("03_cnn_best", {"test_acc": 0.91, "best_val_acc": 0.92, "model": {"name": "cnn3", "kwargs": {}}}),
        ("03_recipe", {"test_acc": 0.937, "test_acc_no_tta": 0.93, "seconds": 3.6, "device": "cuda"}),
        ("07_sweep_best", {"test_acc": 0.80, "best_val_acc": 0.81, "model": None}),
        ("09_finetune_target", {"test_acc": 0.8358, "best_val_acc": 0.88, "model": None, "architecture": "LeNet",
                                "config": {"target": "cifar10-fewshot"}}),
        ("02_mlp_best", {"test_acc": 0.60, "best_val_acc": 0.61, "model": {"name": "mlp_small", "kwargs": {}}}),
        ("08_loss_by_confidence", {"rows": [{"model": "03_cnn_best", "predictions": "wrong, confidence >= 0.9",
                                             "images": 120, "mean loss": 3.1, "share of the loss": 0.4}]})])
    (run / "figures").mkdir()
    saved = ["00_cifar10_samples", "00_stl10_subset", "03_curves", "03_grid", "03_heatmap", "03_ablation",
             "03_filters", "09_tsne"]
    for name in saved:
        fig, ax = plt.subplots()
        ax.plot([0, 1])
        plots.save(fig, run / "figures" / f"{name}.png")
    md = report.build_markdown(run, tmp_path / "report", "full")
    lines = md.splitlines()
    table = [l for l in md.split("## Compared with the source reports")[1].split("\n## ")[0].splitlines() if l.startswith("| ")][2:]
    for row in table:                                   # a difference only where both sides measured the same set
        cells = [c.strip() for c in row.strip("|").split(" | ")]
        their_set, ours, our_set, diff = cells[3], cells[4], cells[5], cells[6]
        assert ("points" in diff) == (their_set == our_set and not ours.startswith("–")), row
    cnn_a = next(l for l in lines if l.startswith("| Simple CNN | A |"))
    assert "91.00 % (03_cnn_best)" in cnn_a and "+14.00 points" in cnn_a          # the best of 03 and 07
    assert "![00_stl10_subset]" not in md and "00_stl10_subset is left out" in md   # no stand-in as data
    for name in saved:
        assert name in md, name                                                   # every figure is there
    shown = re.findall(r"!\[([^\]]+)\]", md)
    assert sorted(shown) == sorted(n for n in saved if n != "00_stl10_subset")
    for section in ("## CNN", "## Hyperparameter sweeps", "## Transfer learning", "## MLP"):
        body = md.split(section)[1].split("\n## ")[0]
        for row in [l for l in body.splitlines() if l.startswith("| 0")]:
            assert row.split(" | ")[1].strip(), row                              # no blank model cell
    assert "| 03_recipe | FastNet (fast recipe) |" in md and "| 07_sweep_best | not recorded |" in md
    q1 = md.split("## The four questions")[1]
    assert "the 120 images that 03_cnn_best got wrong with a confidence of 0.9 or more cost 3.10 each" in q1
    assert "40.00 % of its whole loss" in q1


def test_question_2_lists_validation_and_test_of_every_final_model(tmp_path):
    """Every record with a validation and a test accuracy is a row of Q2's table; a NaN test is left out."""
    real = "real cifar10 (the original files, official checksums) from data"
    finals = {f"0{k}_final": (0.70 + k / 100, 0.69 + k / 100) for k in range(2, 8)}   # six, more than a sentence holds
    run = _full_run(tmp_path / "run", {"03_cnn.ipynb": real}, [
        *[(n, {"best_val_acc": v, "test_acc": t, "model": {"name": f"net{n[1]}", "kwargs": {}}})
          for n, (v, t) in finals.items()],
        ("09_broken", {"best_val_acc": 0.5, "test_acc": float("nan"), "model": None}),
        ("06_study_row", {"best_val_acc": 0.5})])
    q2 = report.build_markdown(run, tmp_path / "report", "full").split("**Why separate training")[1].split("**What are")[0]
    rows = [l for l in q2.splitlines() if l.startswith("| 0")]
    assert [r.split(" | ")[0].strip("| ") for r in rows] == sorted(finals)
    for row, (name, (v, t)) in zip(rows, sorted(finals.items())):
        assert f"| {name} | net{name[1]} | {100 * v:.2f} % | {100 * t:.2f} % | -1.00 points |" == row


def test_question_4_sets_the_final_cnn_resnet_and_vit_side_by_side_with_their_budgets(tmp_path):
    real = "real cifar10 (the original files, official checksums) from data"
    finals = [("03_cnn_best", "cnn3", 40, 33.4, "cuda", 0.9109), ("04_resnet_best", "resnet9", 18, 3456.5, "cpu", 0.9159),
              ("05_vit_best", "vit", 40, 13000.0, "cpu", 0.81)]
    run = _full_run(tmp_path / "run", {"03_cnn.ipynb": real}, [
        (n, {"best_val_acc": t, "test_acc": t, "seconds": s, "device": d, "parameters": 1000,
             "model": {"name": m, "kwargs": {}}, "histories": [{"epoch": list(range(e))}]})
        for n, m, e, s, d, t in finals])
    q4 = report.build_markdown(run, tmp_path / "report", "full").split("**How do ViTs and CNNs differ?**")[1]
    rows = [l for l in q4.splitlines() if l.startswith("| 0")]
    assert rows == [f"| {n} | {m} | 1,000 | {e} | {s:,.0f} s | {d} | {100 * t:.2f} % |" for n, m, e, s, d, t in finals]


def test_publishing_a_run_that_lacks_a_published_notebook_is_refused_and_deletes_nothing(smoke_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(smoke_run, run)                       # notebooks 00, 02, 03
    out, figures = tmp_path / "report", tmp_path / "figures"
    (out / "results").mkdir(parents=True)
    figures.mkdir()
    (out / "results" / "05_vit_best.json").write_text(json.dumps({"name": "05_vit_best", "profile": "smoke"}))
    (figures / "05_patch_grid.png").write_bytes(b"published")
    args = ["--profile", "smoke", "--run-dir", str(run), "--out", str(out), "--figures", str(figures)]
    assert report.main(args) == 1
    err = capsys.readouterr().err
    assert "notebook(s) 05" in err and "cp -n" in err
    assert (figures / "05_patch_grid.png").read_bytes() == b"published" and (out / "results" / "05_vit_best.json").exists()
    assert not (out / "report.md").exists()
    shutil.copy2(out / "results" / "05_vit_best.json", run / "results")   # the fix the message names
    shutil.copy2(figures / "05_patch_grid.png", run / "figures")
    assert report.main(args) == 0
    assert (figures / "05_patch_grid.png").exists() and (figures / "02_mlp_curves.png").exists()


def test_comparison_rows_read_the_named_metric_and_print_no_difference_without_a_source_number():
    records = {"06_d_catdog_none_wd0": {"best_val_acc": 0.8235, "test_acc": float("nan")},
               "09_c_opt_adam": {"best_val_acc": 0.2, "test_acc": 0.21},
               "09_c_opt_momentum": {"best_val_acc": 0.3, "test_acc": 0.31}}
    rows = {row[0]: row for row in report._comparison_rows(records)}
    d = rows["Five-conv CNN, cat vs dog, no augmentation (val)"]
    assert d[4] == "82.35 % (06_d_catdog_none_wd0)"
    assert d[3] != d[5] and d[6].startswith("not comparable")                      # D's own validation images
    adam = rows["CIFAR-100 ConvNet as C trained it, but Adam"]
    assert adam[2] == "–" and adam[3].startswith("worse than") and adam[4] == "21.00 % (09_c_opt_adam)"
    assert adam[6] == "–"                                                           # no number, no difference
    short = rows["CIFAR-100 ConvNet as C trained it: SGD + momentum, lr 0.01"]
    assert short[6].startswith("not comparable")                                    # 50 epochs against a short run
    assert rows["RR-32 (val)"][4] == "– (not in this run: notebook 04 records it as 04_rr32)"   # no record: where from
    assert rows["Report B's ViT (6 layers, embed 30, patch 4), as B trained it (val)"][4].endswith("as 05_vit_report_b)")
    backbones = rows["Six frozen torchvision backbones, Inception v3 with loss1 + 0.4 loss2 (D: its best, ResNet) (val)"]
    assert backbones[4] == "–" and backbones[5].startswith("not run offline")     # no record expected: the reason


def test_question_3_gives_notebook_06s_deltas_and_what_early_stopping_kept(tmp_path):
    """Each change beside the same run without it, in points; early stopping's best epoch against its last."""
    real = "real cifar10 (the original files, official checksums) from data"
    accs = {"06_aug_CNN_flip+crop": 0.71, "06_aug_CNN_none": 0.68, "06_reg_dropout0.5": 0.60, "06_reg_dropout0.0": 0.655,
            "06_reg_adam_wd0.01": 0.64}                      # its partner (Adam without weight decay) is missing
    run = _full_run(tmp_path / "run", {"06_augmentation_regularization.ipynb": real}, [
        *[(n, {"best_val_acc": a}) for n, a in accs.items()],
        ("06_early_stopping_noaug", {"best_val_acc": 0.62, "histories": [
            {"val_acc": [0.5, 0.62, 0.61, 0.58], "best_epoch": 1}]})])
    q3 = report.build_markdown(run, tmp_path / "report", "full").split("**What are augmentation")[1].split("**How do")[0]
    rows = [l for l in q3.splitlines() if l.startswith("| ") and "---" not in l]
    assert "| flip + crop, CNN | 71.00 % | 68.00 % | +3.00 points | 06_aug_CNN_flip+crop vs 06_aug_CNN_none |" in rows
    assert "| dropout 0.5 before the classifier, CNN | 60.00 % | 65.50 % | -5.50 points |" in q3
    assert "L2" not in q3 and "RN-4" not in q3                # no row without both of its runs
    assert "| no augmentation | 2 of 4 | 62.00 % | 58.00 % | +4.00 points | 06_early_stopping_noaug |" in rows
    empty = report.build_markdown(_full_run(tmp_path / "empty", {"03_cnn.ipynb": real}), tmp_path / "r2", "full")
    assert "it has no records in this run" in empty


def test_each_source_setup_sits_beside_our_version_with_what_changed_and_by_how_much(tmp_path):
    """A row only where both sides ran; the difference on the one metric both share; every differing setting."""
    real = "real cifar10 (the original files, official checksums) from data"
    run = _full_run(tmp_path / "run", {"02_mlp.ipynb": real}, [
        ("02_mlp_small_source", {"best_val_acc": 0.47, "model": {"name": "mlp_small", "kwargs": {"num_classes": 10}},
                                 "config": {"optimizer": "adam", "lr": 0.001, "patience": 4, "seed0": 0}}),
        ("02_mlp_best", {"best_val_acc": 0.59, "test_acc": 0.58, "model": {"name": "mlp_small", "kwargs": {}},
                         "config": {"optimizer": "adamw", "lr": 0.001, "label_smoothing": 0.1, "seed0": 1}}),
        ("05_vit_best", {"best_val_acc": 0.8, "test_acc": 0.8})])          # report B's ViT did not run: no row
    md = report.build_markdown(run, tmp_path / "report", "full")
    rows = [l for l in md.split("### What our version changes")[1].split("##")[0].splitlines() if l.startswith("| ")]
    assert rows[1:] == ["| the sources&#x27; small MLP | 47.00 % (02_mlp_small_source) | 59.00 % (02_mlp_best) | "
                        "validation | +12.00 points | optimizer: adam → adamw; patience: 4 → –; label_smoothing: – → 0.1 |"]
    alone = report.build_markdown(_full_run(tmp_path / "alone", {"05_vit.ipynb": real},
                                            [("05_vit_best", {"best_val_acc": 0.8, "test_acc": 0.8})]), tmp_path / "r", "full")
    assert "### What our version changes" not in alone
    spec = {"best_val_acc": 0.5, "model": {"name": "cnn3", "kwargs": {"dropout": 0.0}}, "config": {"epochs": 6}}
    no_spec = {"best_val_acc": 0.4, "model": None, "architecture": "CNN3", "config": {"epochs": 3}}
    assert report._changes(no_spec, spec) == "epochs: 3 → 6"        # a class name alone is no model to compare


def test_findings_without_a_source_number_get_a_row_read_from_our_record_and_no_difference():
    """Report D's gridded Schaffer gave a finding, not a number: the row shows ours from the record, no difference."""
    schaffer = {"rows": [{"setting": "GD", "lr_grid": 10, "global min": 0.09},
                         {"setting": "Nesterov 0.9", "lr_grid": 10, "global min": 0.16},
                         {"setting": "Nesterov 0.9", "lr_grid": 40, "global min": 0.5}]}
    rows = {row[0]: row for row in report._finding_rows({"01_gridded_schaffer": schaffer})}
    d = next(row for title, row in rows.items() if "gridded Schaffer" in title)
    assert "GD 9.00 %" in d[4] and "Nesterov 0.9 16.00 %" in d[4] and "50.00 %" not in d[4]   # lr 10 only
    assert d[2] == "–" and d[6] == "–" and d[4].endswith("(01_gridded_schaffer)")
    e = next(row for title, row in rows.items() if "log/log" in title)
    assert e[4] == "–"                                                                       # no record: a dash


def test_question_4_cuts_the_longer_run_where_the_shorter_one_ended(tmp_path):
    """At equal time on one device: the longer run's best validation accuracy within the shorter one's seconds."""
    real = "real cifar10 (the original files, official checksums) from data"
    def record(seconds, val_accs, test, device="cpu"):
        return {"best_val_acc": max(val_accs), "test_acc": test, "seconds": sum(seconds), "device": device,
                "model": {"name": "net", "kwargs": {}}, "histories": [{"seconds": seconds, "val_acc": val_accs}]}
    run = _full_run(tmp_path / "run", {"03_cnn.ipynb": real}, [
        ("03_cnn_best", record([100.0, 100.0], [0.5, 0.9], 0.89)),                   # 200 s
        ("04_resnet_best", record([50.0] * 4, [0.6, 0.7, 0.8, 0.93], 0.92, "cuda")),  # another device: no cut
        ("05_vit_best", record([60.0] * 4, [0.3, 0.45, 0.4, 0.8], 0.79))])            # 240 s
    q4 = report.build_markdown(run, tmp_path / "report", "full").split("**How do ViTs and CNNs differ?**")[1]
    assert ("In the 200 s that 03_cnn_best trained on cpu, 05_vit_best finished 3 of its 4 epochs with a best "
            "validation accuracy of 45.00 %, against 03_cnn_best's 90.00 %") in q4
    assert "03_cnn_best is the more accurate on the test set (89.00 % against 79.00 %) in 83% of 05_vit_best's" in q4
    assert "04_resnet_best trained" not in q4 and "that 05_vit_best trained" not in q4
