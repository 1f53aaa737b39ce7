"""Sweeps: search-space checks, storage errors, and worker processes sharing one study, on SQLite
and on a real PostgreSQL server, with no trial lost or counted twice, also after a worker is killed."""
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import pytest
import torch
from optuna.trial import TrialState

from helpers import data, plots, spaces, sweep

ROOT = Path(__file__).resolve().parents[1]
TINY = {"model": "cnn3", "channels": (4, 8), "hidden": 16}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Generated CIFAR-10 small enough that a trial takes about a second."""
    root = data.make_standin(tmp_path_factory.mktemp("sweepdata"), datasets=("cifar10",),
                             train_per_class=30, test_per_class=2)
    train, val, _ = data.splits("cifar10", root, seed=0)
    return root, train, val


@pytest.fixture
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(url: str, study: str, n: int, root: Path, *extra: str) -> subprocess.Popen:
    """``python -m helpers.sweep worker`` in its own process."""
    cmd = [sys.executable, "-m", "helpers.sweep", "worker", "--study", study, "--storage", url,
           "--trials", str(n), "--profile", "smoke", "--data-dir", str(root), "--threads", "1",
           "--heartbeat", "1", "--grace", "3", *extra]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _finish(proc: subprocess.Popen, timeout: float = 120) -> str:
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        pytest.fail(f"the worker did not finish within {timeout} s:\n{out}")
    assert proc.returncode == 0, out
    return out


def _states(study) -> dict:
    trials = study.get_trials(deepcopy=False)
    assert len({t.number for t in trials}) == len(trials), "trial numbers repeat"
    return {s: sorted(t.number for t in trials if t.state == s) for s in TrialState}


# ---------------------------------------------------------------------------------------------
# Checks that need no training
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("space, sampler, words", [
    ({"lr": []}, None, ["'lr'", "empty list"]),
    ({"lr": (1e-2, 1e-3, "log")}, None, ["'lr'", "must be below"]),
    ({"lr": (0.0, 1e-2, "log")}, None, ["'lr'", "log range needs low > 0"]),
    ({"lr": (1e-4, 1e-2, "cubic")}, None, ["'lr'", "unknown range kind 'cubic'"]),
    ({"lr": [1e-4, 1e-2, "log"]}, None, ["'lr'", "as a tuple"]),
    ({"wd": [0.0], "lr": (1e-4, 1e-2, "log")}, "grid", ["'lr'", "grid sampler needs a list"]),
    ({"lr": 0.1}, None, ["'lr'", "neither a list"]),
    ({"lr": [0.1, 0.1]}, None, ["'lr'", "repeats"]),
    ({}, None, ["non-empty dict"]),
])
def test_validate_space_names_the_bad_parameter(space, sampler, words):
    with pytest.raises(ValueError) as e:
        sweep.validate_space(space, sampler)
    for w in words:
        assert w in str(e.value)


def test_good_spaces_and_settings_pass_and_misspelt_settings_fail(tmp_path):
    for profile in ("smoke", "full"):
        for name in ("cnn", "vit"):
            p = sweep.preset(name, profile)
            spaces.check_settings(p["space"], p["fixed"], "tpe")
    assert sweep.validate_space({"lr": (1, 10, "log"), "opt": ["adamw"]}, "tpe")
    url = f"sqlite:///{tmp_path}/s.db"
    with pytest.raises(ValueError, match="no study 'nope'.*--space"):
        sweep.create_study("nope", url)
    assert optuna.get_all_study_names(url) == []              # and none was left behind
    with pytest.raises(ValueError, match="'learning_rate'.*neither"):
        sweep.create_study("x", url, space={"learning_rate": (1e-4, 1e-2, "log")}, fixed={"model": "cnn3"})
    with pytest.raises(ValueError, match="both searched"):
        sweep.create_study("x", url, space={"lr": [1e-3]}, fixed={"model": "cnn3", "lr": 1e-3})
    study = sweep.create_study("x", url, space={"lr": [1e-3]}, fixed={"model": "cnn3"})
    assert sweep.create_study("x", url).user_attrs == study.user_attrs          # loads the stored settings
    with pytest.raises(ValueError, match="other settings"):
        sweep.create_study("x", url, sampler="random")


@pytest.mark.parametrize("url", [
    "postgresql://sweeper@127.0.0.1:{port}/nodb",
    "nosuchdb://somewhere/sweeps",
    "sqlite:///{tmp}/no/such/folder/s.db",
])
def test_bad_storage_is_an_error_naming_the_url(url, tmp_path):
    url = url.format(port=_free_port(), tmp=tmp_path)
    with pytest.raises(sweep.StorageError) as e:
        sweep.create_study("x", url, space={"lr": [1e-3]}, fixed={"model": "cnn3"})
    assert url in str(e.value) and "Check" in str(e.value)


def test_storage_error_hides_the_password():
    url = f"postgresql://sweeper:secret@127.0.0.1:{_free_port()}/nodb"
    with pytest.raises(sweep.StorageError) as e:
        sweep.create_study("x", url, space={"lr": [1e-3]}, fixed={"model": "cnn3"})
    assert "secret" not in str(e.value) and "postgresql://sweeper:***@127.0.0.1" in str(e.value)


# ---------------------------------------------------------------------------------------------
# In one process: grid, pruning, outputs
# ---------------------------------------------------------------------------------------------
def test_grid_sweep_runs_each_point_once_and_resumes(tiny, tmp_path, one_thread):
    _, train, val = tiny
    url = f"sqlite:///{tmp_path}/g.db"
    space = {"lr": [1e-3, 3e-3], "optimizer": ["adamw", "nesterov"]}
    study = sweep.create_study("grid", url, sampler="grid", space=space, fixed={**TINY, "epochs": 1}, prune=False)
    sweep.optimize(study, train, val, n_trials=3, verbose=False)
    assert len(_states(study)[TrialState.COMPLETE]) == 3
    sweep.optimize(sweep.create_study("grid", url), train, val, n_trials=99, verbose=False)   # resumes: +1
    trials = study.get_trials()
    assert len(trials) == 4 and all(t.state == TrialState.COMPLETE for t in trials)
    assert sorted((t.params["lr"], t.params["optimizer"]) for t in trials) == sorted(
        (lr, o) for lr in space["lr"] for o in space["optimizer"])
    assert all(len(t.user_attrs["val_acc"]) == 1 for t in trials)
    table = sweep.results_table(study, tmp_path / "grid.csv")
    assert list(table["number"]) == [0, 1, 2, 3] and set(table["state"]) == {"COMPLETE"}
    assert (tmp_path / "grid.csv").read_text().startswith("number,state,value")
    best = sweep.best_config(study)
    assert best["val_acc"] == max(t.value for t in trials)
    assert best["model"] == "cnn3" and best["model_kwargs"] == {"channels": (4, 8), "hidden": 16}
    assert set(best["fit"]) == {"epochs", "lr", "optimizer"}
    with pytest.raises(ValueError, match="other data"):
        sweep.optimize(study, val, train, n_trials=5, verbose=False)


def test_epoch_seconds_counts_the_steps_of_an_epoch_and_a_larger_model_costs_more(one_thread):
    small = {"model": "vit", "patch_size": 8, "embed_dim": 16, "depth": 1, "num_heads": 1, "head_dim": 8,
             "mlp_dim": 16, "batch_size": 32, "lr": 1e-3, "epochs": 6}
    large = {**small, "patch_size": 4, "embed_dim": 64, "depth": 4, "num_heads": 4}
    t_small = sweep.epoch_seconds(small, 320, 10, "cpu")
    t_large = sweep.epoch_seconds(large, 320, 10, "cpu")
    assert 0 < t_small < t_large                  # a 16x larger model (timed for real, on one thread)
    with pytest.raises(ValueError, match="at least one training image"):
        sweep.epoch_seconds(small, 0, 10, "cpu")


def test_epoch_seconds_times_the_trials_model_at_its_batch_size(monkeypatch):
    timed = []

    def one_step(build, batch_size, device):
        timed.append((build(), batch_size, device))
        return 0.5

    monkeypatch.setattr(sweep, "seconds_per_step", one_step)   # the step's timing, not what is under test
    settings = {"model": "cnn3", "channels": (4, 8), "hidden": 16, "dropout": 0.2, "batch_size": 64,
                "lr": 1e-3, "epochs": 6, "optimizer": "adamw"}
    assert sweep.epoch_seconds(settings, 650, 7, "cpu") == 0.5 * 11          # 650 images: 11 batches of 64
    model, batch_size, device = timed[0]
    assert (batch_size, device) == (64, "cpu")
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 7)                  # its model, its classes
    assert sum(p.numel() for p in model.parameters()) == sum(
        p.numel() for p in sweep.models.build("cnn3", num_classes=7, channels=(4, 8), hidden=16).parameters())


def test_median_pruning_stops_bad_trials(tiny, tmp_path, one_thread):
    _, train, val = tiny
    # half the learning rates are far too small to learn anything in 3 epochs
    space = {"lr": [1e-7, 2e-7, 3e-7, 3e-3, 4e-3, 5e-3]}
    study = sweep.create_study("prune", f"sqlite:///{tmp_path}/p.db", sampler="grid", space=space,
                               fixed={**TINY, "epochs": 3, "optimizer": "adam"}, seed=1)
    sweep.optimize(study, train, val, n_trials=6, verbose=False)
    states = _states(study)
    assert len(states[TrialState.COMPLETE]) + len(states[TrialState.PRUNED]) == 6
    for t in study.get_trials():
        assert len(t.user_attrs["val_acc"]) == (3 if t.state == TrialState.COMPLETE else len(t.intermediate_values))
    fig = plots.sweep_curves(study)
    assert fig.axes[0].get_title().startswith("prune: the best")
    fig = plots.sweep_parallel(study)
    assert fig.axes[0].get_title() == "prune: parallel coordinates (completed trials)"


def test_a_trial_queued_by_a_dead_worker_is_taken_up(tiny, tmp_path, one_thread):
    """A worker queues each trial (WAITING) and records its heartbeat before running it; if it dies
    in between, the queued trial is the next one run, not an extra one."""
    _, train, val = tiny
    study = sweep.create_study("queued", f"sqlite:///{tmp_path}/q.db", sampler="random",
                               space={"lr": (1e-3, 1e-2, "log")}, fixed={**TINY, "epochs": 1})
    study.add_trial(optuna.trial.create_trial(state=TrialState.WAITING))
    sweep.optimize(study, train, val, n_trials=2, timeout=60, verbose=False)
    states = _states(study)
    assert states[TrialState.COMPLETE] == [0, 1] and len(study.get_trials()) == 2


# ---------------------------------------------------------------------------------------------
# Several processes on one study
# ---------------------------------------------------------------------------------------------
def _two_workers(url: str, root: Path, n: int = 4):
    procs = [_worker(url, "shared", n, root, "--space", "cnn", "--sampler", "random") for _ in range(2)]
    outs = [_finish(p) for p in procs]
    ran = [[int(line.split()[1]) for line in out.splitlines() if line.startswith("trial ")] for out in outs]
    study = sweep.create_study("shared", url)
    states = _states(study)
    assert len(states[TrialState.COMPLETE]) + len(states[TrialState.PRUNED]) == n, states
    assert not states[TrialState.RUNNING] and not states[TrialState.FAIL] and not states[TrialState.WAITING]
    assert sorted(ran[0] + ran[1]) == list(range(n)), ran          # each trial run by exactly one worker
    assert len(sweep.results_table(study)) == n


def test_two_workers_share_a_sqlite_study(tiny, tmp_path):
    _two_workers(f"sqlite:///{tmp_path}/shared.db", tiny[0])


def test_a_killed_worker_is_resumed_without_losing_or_repeating_a_trial(tiny, tmp_path, one_thread):
    root, train, val = tiny
    url, n = f"sqlite:///{tmp_path}/resume.db", 4
    study = sweep.create_study("resume", url, sampler="random", prune=False, seed=3,
                               space={"lr": (1e-3, 1e-2, "log"), "dropout": [0.0, 0.25, 0.5]},
                               fixed={**TINY, "epochs": 6}, heartbeat=1, grace=3)
    proc = _worker(url, "resume", n, root)
    for line in proc.stdout:                     # wait for a first finished trial ...
        if line.startswith("trial "):
            break
    deadline = time.time() + 60                  # ... then kill the worker in the middle of the next
    while not any(t.state == TrialState.RUNNING and t.intermediate_values for t in study.get_trials()):
        assert time.time() < deadline and proc.poll() is None, "the worker ended before it could be killed"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    before = _states(study)
    assert len(before[TrialState.RUNNING]) == 1 and 1 <= len(before[TrialState.COMPLETE]) < n
    killed = study.get_trials()[before[TrialState.RUNNING][0]]

    sweep.optimize(study, train, val, n_trials=n, timeout=60, verbose=False)   # run again, here
    after = _states(study)
    assert len(after[TrialState.COMPLETE]) == n, after           # the stale trial is not counted ...
    assert after[TrialState.FAIL] == [killed.number] and not after[TrialState.RUNNING]
    retry = [t for t in study.get_trials() if t.system_attrs.get("failed_trial") == killed.number]
    assert len(retry) == 1 and retry[0].params == killed.params     # ... and is run again, once
    assert retry[0].state == TrialState.COMPLETE


def test_a_killed_grid_sweep_completes_each_point_once(tiny, tmp_path, one_thread):
    """As notebook 07 reads a grid: after a kill and a resume, the table keeps the killed trial as
    FAIL, and its complete trials hold each grid point exactly once (so they pivot into the grid)."""
    root, train, val = tiny
    url = f"sqlite:///{tmp_path}/killed_grid.db"
    space = {"lr": [1e-3, 3e-3], "batch_size": [16, 32]}
    study = sweep.create_study("kgrid", url, sampler="grid", space=space, prune=False,
                               fixed={**TINY, "epochs": 6, "optimizer": "adamw"}, heartbeat=1, grace=3)
    proc = _worker(url, "kgrid", 4, root)
    deadline = time.time() + 60
    while not any(t.state == TrialState.RUNNING and t.intermediate_values for t in study.get_trials()):
        assert time.time() < deadline and proc.poll() is None, "the worker ended before it could be killed"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    sweep.optimize(study, train, val, timeout=60, verbose=False)              # n_trials=None: the grid
    table = sweep.results_table(study)
    assert list(table.state).count("FAIL") == 1
    complete = table[table.state == "COMPLETE"]
    grid = complete.pivot(index="lr", columns="batch_size", values="value")
    assert grid.shape == (2, 2) and not grid.isna().any().any()
    assert sorted(zip(complete.lr, complete.batch_size)) == sorted((a, b) for a in space["lr"] for b in space["batch_size"])


# ---------------------------------------------------------------------------------------------
# A real PostgreSQL server on loopback
# ---------------------------------------------------------------------------------------------
def _pg_bindir() -> str | None:
    candidates = [os.environ.get("PG_BIN", "")] + sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    on_path = shutil.which("initdb")
    candidates += [os.path.dirname(on_path)] if on_path else []
    return next((d for d in candidates if d and all(os.path.isfile(os.path.join(d, b))
                                                     for b in ("initdb", "pg_ctl", "createdb"))), None)


@pytest.fixture(scope="module")
def postgres_url():
    """A throw-away PostgreSQL server on 127.0.0.1 (a free port), with a database ``sweeps``.

    initdb refuses to run as root, so as root the server runs as the user ``postgres`` (else
    ``nobody``) in a temporary folder it owns. The server is stopped and its folder deleted afterwards.
    """
    bindir = _pg_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl, createdb) not found: install them with "
                    "`apt-get install postgresql` (or set PG_BIN to their folder) to run this test")
    run_as = {}
    base = Path(tempfile.mkdtemp(prefix="sweep-pg-"))
    if os.geteuid() == 0:
        for name in ("postgres", "nobody"):
            try:
                user = pwd.getpwnam(name)
                break
            except KeyError:
                user = None
        if user is None:
            pytest.skip("as root, this test runs PostgreSQL as the user postgres or nobody; neither exists")
        os.chown(base, user.pw_uid, user.pw_gid)
        run_as = {"user": user.pw_uid, "group": user.pw_gid}
    port, pgdata = _free_port(), base / "data"

    def pg(program, *args, check=True):
        res = subprocess.run([os.path.join(bindir, program), *map(str, args)], cwd=base, capture_output=True,
                             text=True, timeout=90, **run_as)
        if check and res.returncode != 0:
            log = (base / "log").read_text() if (base / "log").exists() else ""
            pytest.fail(f"{program} failed ({res.returncode}): {res.stdout}{res.stderr}{log}")
        return res

    pg("initdb", "-D", pgdata, "-U", "sweeper", "-A", "trust", "-E", "UTF8", "--no-sync")
    pg("pg_ctl", "-D", pgdata, "-l", base / "log", "-w", "-t", "60", "-o",
       f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={base} -c fsync=off", "start")
    try:
        pg("createdb", "-h", "127.0.0.1", "-p", port, "-U", "sweeper", "sweeps")
        yield f"postgresql://sweeper@127.0.0.1:{port}/sweeps"
    finally:
        pg("pg_ctl", "-D", pgdata, "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.integration
def test_two_workers_share_a_postgresql_study(tiny, postgres_url):
    _two_workers(postgres_url, tiny[0])
