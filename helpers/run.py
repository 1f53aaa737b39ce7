"""Run the course notebooks headlessly with papermill and print a summary.

    python -m helpers.run                                   # every notebook, full profile
    python -m helpers.run --profile smoke                   # seconds on a CPU, generated data
    python -m helpers.run --profile quick                   # the real data, minutes per notebook on a CPU
    python -m helpers.run --profile full --data-dir D notebooks/00_data.ipynb
    python -m helpers.run --profile full --jobs 3           # three notebooks at a time, each in its own kernel
    python -m helpers.run --store-from OUT                  # store a run made elsewhere (scripts/reproduce.sh)

Executed copies go to ``runs/<profile>/notebooks/`` (``--output-dir`` changes
that). A failing notebook is named with its failing cell, the others still run,
and the exit code is 1.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from . import devices, profiles, results
from .files import atomic_writer, save_atomic

NOTEBOOKS = profiles.REPO_ROOT / "notebooks"

#: notebooks that read others' checkpoints (by number): with --jobs they start once those have finished
NEEDS = {"08": ("02", "03", "04", "05", "07")}


@dataclass
class NotebookRun:
    """How one notebook run went: status, wall time, the data it used, its error and device
    (``experiment.Outcome`` is a training run's result; this is a whole notebook's)."""
    notebook: str
    status: str          # "ok" or "FAILED"
    seconds: float
    data: str
    error: str = ""
    device: str = ""     # where the notebook's "auto" device points: "cuda (NVIDIA H200)", "cpu (2 threads)"


def _data_line(nb_path: Path) -> str:
    """The ``DATA: ...`` lines a notebook printed, joined, or ``none`` if it printed none."""
    try:
        nb = json.loads(nb_path.read_text())
    except (OSError, ValueError):
        return "?"
    found = []
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []):
            text = out.get("text", "")
            text = "".join(text) if isinstance(text, list) else text
            found += [ln[len("DATA: "):] for ln in text.splitlines()
                      if ln.startswith("DATA: ") and ln[len("DATA: "):] not in found]
    return " | ".join(found) or "none"


def run_notebook(path: Path, out_dir: Path, parameters: dict, timeout: int | None = None,
                 device: str = "") -> NotebookRun:
    """Execute one notebook with papermill; never raises for a failing notebook."""
    import papermill as pm

    out_path = out_dir / path.name
    known = pm.inspect_notebook(str(path))
    params = {k: v for k, v in parameters.items() if k in known and v is not None}
    t0 = time.perf_counter()
    status, error = "ok", ""
    try:
        pm.execute_notebook(str(path), str(out_path), parameters=params, cwd=str(path.parent),
                            kernel_name="python3", progress_bar=False, execution_timeout=timeout)
    except pm.PapermillExecutionError as e:
        status = "FAILED"
        error = (f"{path.name} failed in cell {e.cell_index} (execution count {e.exec_count}): "
                 f"{e.ename}: {e.evalue}")
    except Exception as e:  # a kernel that died, a malformed notebook, a timeout
        status = "FAILED"
        error = f"{path.name} could not run: {type(e).__name__}: {e}"
    seconds = time.perf_counter() - t0
    return NotebookRun(path.name, status, seconds, _data_line(out_path) if out_path.exists() else "?", error, device)


def _kernel_threads(jobs: int) -> int | None:
    """CPU threads per kernel when ``jobs`` notebooks run at once: the cores shared out, so that the
    kernels do not fight over them (two 2-thread kernels on 2 cores ran many times slower than one
    after the other). ``$OMP_NUM_THREADS``, when set, wins. None for one job at a time."""
    if jobs <= 1:
        return None
    if os.environ.get("OMP_NUM_THREADS", "").isdigit():
        return int(os.environ["OMP_NUM_THREADS"])
    return max(1, (os.cpu_count() or 1) // jobs)


def _set_threads(threads: int) -> None:     # in each worker process, before it starts kernels
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(threads)


def run_all(paths: list[Path], out_dir: Path, parameters: dict, timeout: int | None = None, device: str = "",
            jobs: int = 1, on_done=None) -> list[NotebookRun]:
    """Run ``paths``, at most ``jobs`` at a time (each in its own kernel), and return their outcomes in
    the order of ``paths``. A notebook that needs others' checkpoints (``NEEDS``) starts only once
    those of this run have finished. ``on_done(path, outcome)`` is called as each one ends."""
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    outcomes: dict[Path, NotebookRun] = {}
    if jobs == 1:
        for p in paths:
            outcomes[p] = run_notebook(p, out_dir, parameters, timeout, device)
            if on_done:
                on_done(p, outcomes[p])
        return [outcomes[p] for p in paths]
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    pending, running = list(paths), {}
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_set_threads, initargs=(_kernel_threads(jobs),)) as pool:
        while pending or running:
            for p in list(pending):
                if len(running) >= jobs:
                    break
                unfinished = [q.name[:2] for q in [*pending, *running.values()] if q is not p]
                if any(n in unfinished for n in NEEDS.get(p.name[:2], ())):
                    continue
                pending.remove(p)
                running[pool.submit(run_notebook, p, out_dir, parameters, timeout, device)] = p
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for f in done:
                p = running.pop(f)
                outcomes[p] = f.result()
                if on_done:
                    on_done(p, outcomes[p])
    return [outcomes[p] for p in paths]


def kernelspec() -> dict:
    """The notebook metadata of the kernel ``make install`` installs (``python3``), so that a stored
    notebook opens in JupyterLab without a kernel change (and without an unsaved mark)."""
    try:
        from jupyter_client.kernelspec import KernelSpecManager

        spec = KernelSpecManager().get_kernel_spec("python3")
        return {"name": "python3", "display_name": spec.display_name, "language": spec.language}
    except Exception:       # no kernel installed here: ipykernel's own name for it
        return {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def store(executed: Path, source: Path) -> None:
    """Write an executed notebook back over its source, so the repository shows real outputs.

    Papermill's injected-parameters cell and per-cell timing metadata are dropped: the
    stored notebook keeps its own parameters cell (so nbval and JupyterLab run it with
    the defaults), and the run's parameters stay in the notebook's ``papermill`` metadata.
    The kernel spec is the installed one's (``kernelspec``).
    A progress bar's updates (stream chunks that overwrite a line with ``\r``) are kept as
    their final state only, as JupyterLab shows them.
    """
    import nbformat
    from nbconvert.preprocessors import CoalesceStreamsPreprocessor

    nb = nbformat.read(executed, as_version=4)
    nb.cells = [c for c in nb.cells if "injected-parameters" not in c.metadata.get("tags", [])]
    nb.metadata["kernelspec"] = kernelspec()
    for c in nb.cells:
        c.metadata.pop("papermill", None)
        c.metadata.pop("execution", None)
    nb, _ = CoalesceStreamsPreprocessor().preprocess(nb, {})
    with atomic_writer(source, "w") as f:
        nbformat.write(nb, f)


def summary(outcomes: list[NotebookRun], total: float) -> str:
    """A plain-text table: notebook, status, wall time, data used."""
    rows = [("notebook", "status", "wall time", "data")]
    rows += [(o.notebook, o.status, f"{o.seconds:8.1f} s", o.data if len(o.data) <= 150 else o.data[:147] + "...")
             for o in outcomes]
    rows.append(("total", f"{sum(o.status == 'ok' for o in outcomes)}/{len(outcomes)} ok",
                 f"{total:8.1f} s", ""))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = ["  ".join(r[i].ljust(widths[i]) for i in range(3)) + "  " + r[3] for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    lines.insert(len(lines) - 1, "-" * len(lines[0]))
    return "\n".join(lines)


def merge_summary(previous: dict | None, outcomes: list[NotebookRun]) -> dict:
    """The run's summary record: these outcomes over those of earlier invocations of the same profile.

    A full run may come in parts (a few notebooks per call on a lent GPU); a notebook run again
    replaces its old entry, the others stay, in notebook order. The total is their sum.
    """
    entries = {o["notebook"]: o for o in (previous or {}).get("notebooks", [])}
    entries.update({o.notebook: asdict(o) for o in outcomes})
    notebooks = [entries[k] for k in sorted(entries)]
    return {"notebooks": notebooks, "total_seconds": sum(o["seconds"] for o in notebooks)}


def store_from(folder: Path, profile: str, notebooks_dir: Path = NOTEBOOKS) -> list[str]:
    """Store a run made elsewhere, e.g. by ``scripts/reproduce.sh`` on a GPU machine, as if it had run here.

    ``folder`` is that run's folder: ``results/`` (its records and ``run_summary.json``), ``figures/`` and
    ``notebooks/`` (the executed copies). Each notebook the summary lists as ``ok`` is written over its
    source in ``notebooks_dir``; its records and figures (those named after its number, ``03_...``) go into
    this profile's run folder, and its summary entry replaces the old one. A notebook that failed or was cut
    short there stores nothing. Returns the stored notebooks' names.
    """
    folder = Path(folder)
    try:
        summary = json.loads((folder / "results" / "run_summary.json").read_text())
    except (OSError, ValueError) as e:
        raise SystemExit(f"{folder} holds no readable results/run_summary.json ({type(e).__name__}): give the "
                         "folder a run wrote (COURSE_RUN_DIR of helpers.run, or the OUT of scripts/reproduce.sh)")
    run_dir = profiles.run_dir(profile)
    stored = []
    for entry in summary.get("notebooks", []):
        executed = folder / "notebooks" / entry["notebook"]
        if entry.get("status") != "ok" or not executed.is_file():
            print(f"  skipped {entry['notebook']}: {entry.get('status', '?')}"
                  + ("" if executed.is_file() else ", no executed copy"))
            continue
        store(executed, notebooks_dir / entry["notebook"])
        prefix = entry["notebook"][:3]            # "03_": its records and figures
        for sub, pattern in (("results", f"{prefix}*.json"), ("figures", f"{prefix}*.png")):
            (run_dir / sub).mkdir(parents=True, exist_ok=True)
            for f in sorted((folder / sub).glob(pattern)):
                save_atomic(f.read_bytes(), run_dir / sub / f.name)
        for ckpt in sorted((folder / "checkpoints").glob(f"{prefix}*")):
            shutil.copytree(ckpt, run_dir / "checkpoints" / ckpt.name, dirs_exist_ok=True)
        stored.append(entry)
        print(f"  stored {entry['notebook']} ({entry['seconds']:.1f} s on {entry.get('device') or '?'})")
    fields = set(NotebookRun.__dataclass_fields__)
    merged = merge_summary(results.read("run_summary", profile),
                           [NotebookRun(**{k: v for k, v in e.items() if k in fields}) for e in stored])
    results.save("run_summary", {**merged, "run_profile": profile}, profile)
    return [e["notebook"] for e in stored]


def _parameters(pairs: list[list[str]], paths: list[Path], ap: argparse.ArgumentParser) -> dict:
    """``-p NAME VALUE`` pairs as notebook parameters; a NAME that none of ``paths`` has is an error."""
    import ast

    import papermill as pm

    if not pairs:
        return {}
    own = sorted({name for name, _ in pairs} & {"profile", "data_dir", "device"})
    if own:
        ap.error(f"set {', '.join(own)} with {', '.join('--' + n.replace('_', '-') for n in own)} (the runner's "
                 "own options), not -p")
    known = set().union(*(pm.inspect_notebook(str(p)) for p in paths))
    unknown = sorted({name for name, _ in pairs} - known)
    if unknown:
        ap.error(f"no notebook of this run has the parameter(s) {', '.join(unknown)}; "
                 f"theirs: {', '.join(sorted(known))}")
    values = {}
    for name, text in pairs:
        try:
            values[name] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            values[name] = text
    return values


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m helpers.run", description=__doc__.split("\n\n")[0])
    ap.add_argument("notebooks", nargs="*", type=Path,
                    help="notebooks to run (default: every notebooks/NN_*.ipynb, in order)")
    ap.add_argument("--profile", choices=profiles.PROFILES, default="full",
                    help="smoke: seconds on a CPU with generated data; full: the real experiment")
    ap.add_argument("--data-dir", type=Path, default=None,
                    help="folder with the datasets in torchvision's layout (default: <repo>/data)")
    ap.add_argument("--output-dir", type=Path, default=None,
                    help="where executed notebooks go (default: runs/<profile>/notebooks)")
    ap.add_argument("--device", default=None, help="auto, cpu, cuda or mps (default: the notebook's)")
    ap.add_argument("--timeout", type=int, default=None, help="seconds allowed per cell")
    ap.add_argument("--jobs", type=int, default=1,
                    help="notebooks run at the same time, each in its own kernel (sharing the GPU, or the CPU's "
                         "cores); 08 waits for the notebooks whose checkpoints it evaluates (default: 1)")
    ap.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                    help="set a parameter of the notebooks that have it, as papermill's -p (VALUE is read as a "
                         "Python literal, else taken as text), e.g. -p epochs_finetune 1; repeat for more")
    ap.add_argument("--store", action="store_true",
                    help="write each successfully executed notebook back over its source (committed outputs)")
    ap.add_argument("--store-from", type=Path, default=None, metavar="FOLDER",
                    help="run nothing: store the notebooks, records and figures of a run made elsewhere "
                         "(the OUT folder of scripts/reproduce.sh), then build the report with helpers.report")
    args = ap.parse_args(argv)
    if args.store_from is not None:
        stored = store_from(args.store_from, args.profile)
        print(f"stored {len(stored)} notebook(s) from {args.store_from}; now: python -m helpers.report")
        return 0

    paths = args.notebooks or sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    missing = [str(p) for p in paths if not Path(p).is_file()]
    if missing:
        ap.error(f"no such notebook(s): {', '.join(missing)}")
    out_dir = args.output_dir or profiles.run_dir(args.profile) / "notebooks"
    out_dir.mkdir(parents=True, exist_ok=True)
    data_dir = str(args.data_dir.resolve()) if args.data_dir else None
    parameters = {"profile": args.profile, "data_dir": data_dir, "device": args.device,
                  **_parameters(args.parameter, paths, ap)}
    print(f"running {len(paths)} notebook(s), profile {args.profile}, outputs in {out_dir}", flush=True)
    if args.jobs < 1:
        ap.error(f"--jobs must be at least 1, got {args.jobs}")
    # the notebooks' "auto" (or --device) resolves the same way
    device = devices.device_label(args.device, _kernel_threads(args.jobs))

    def done(p: Path, o: NotebookRun) -> None:
        print(f"  {o.status:6s} {o.notebook} ({o.seconds:.1f} s)" + (f"\n    {o.error}" if o.error else ""),
              flush=True)
        if args.store and o.status == "ok":
            store(out_dir / p.name, p)

    t0 = time.perf_counter()
    outcomes = run_all([Path(p).resolve() for p in paths], out_dir, parameters, args.timeout, device,
                       args.jobs, done)
    total = time.perf_counter() - t0
    print()
    print(summary(outcomes, total))
    merged = merge_summary(results.read("run_summary", args.profile), outcomes)
    if len(merged["notebooks"]) > len(outcomes):
        print(f"the run's summary also keeps {len(merged['notebooks']) - len(outcomes)} notebook(s) run earlier: "
              f"{merged['total_seconds']:.1f} s in all")
    results.save("run_summary", {**merged, "run_profile": args.profile,
                                 "last_call": {"jobs": args.jobs, "wall_seconds": round(total, 1),
                                               "notebooks": [o.notebook for o in outcomes]}}, args.profile)
    failed = [o for o in outcomes if o.status != "ok"]
    for o in failed:
        print(f"FAILED: {o.error}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
