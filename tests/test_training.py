import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from helpers import augment, data, evaluate, training

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def one_thread():
    """Same thread count in every process, so float sums come out bit-identical."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def small_cnn():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(4), nn.Dropout(0.1),
                         nn.Flatten(), nn.Linear(8 * 8 * 8, 10))


def loaders(splits, seed=0):
    tr, va, _ = splits
    return (data.Batches(tr, 32, shuffle=True, augment=augment.standard(), seed=seed),
            data.Batches(va, 60))


def test_fit_learns_and_records_history(cifar_splits):
    model = small_cnn()
    h = training.fit(model, *loaders(cifar_splits), epochs=6, lr=3e-3, progress=False)
    assert h.epoch == list(range(6))
    assert h.train_loss[-1] < h.train_loss[0]
    assert max(h.val_acc) > 0.2          # chance is 0.1
    assert h.best_val_acc == max(h.val_acc) and h.val_acc[h.best_epoch] == h.best_val_acc
    assert len(h.lr) == len(h.seconds) == 6


SUBNORMALS = """
import struct, sys, torch
if sys.argv[1] == "helpers":
    import helpers
torch.set_num_threads(2)
x = torch.frombuffer(bytearray(struct.pack("f", 1e-39) * 1_000_000), dtype=torch.float32)  # below 1.18e-38
print(int((x * 3.0 != 0).sum()))       # a parallel op: every worker thread must flush for this to be 0
"""


def test_importing_helpers_flushes_subnormal_floats_in_every_thread():
    """A dying network's subnormal weights would make every CPU step ~12x slower; importing helpers
    switches flushing on before torch's worker threads exist, so they flush too."""
    def nonzero(first):
        out = subprocess.run([sys.executable, "-c", SUBNORMALS, first], capture_output=True, text=True,
                             cwd=ROOT, check=True)
        return int(out.stdout)
    assert nonzero("torch") > 0                 # without helpers the CPU keeps (and computes) subnormals
    assert nonzero("helpers") == 0


def test_same_seed_same_numbers(cifar_splits):
    a = training.fit(small_cnn(), *loaders(cifar_splits), epochs=2, progress=False, seed=4)
    b = training.fit(small_cnn(), *loaders(cifar_splits), epochs=2, progress=False, seed=4)
    assert a.train_loss == b.train_loss and a.val_acc == b.val_acc


def test_cpu_training_uses_channels_last_and_learns_the_same(cifar_splits):
    """On the CPU ``fit`` trains conv nets in channels-last memory (about 1.3x faster there); the
    layout changes the order of float sums only, so the run learns what a contiguous run learns."""
    nhwc, plain = small_cnn(), small_cnn()
    a = training.fit(nhwc, *loaders(cifar_splits), epochs=2, progress=False)
    b = training.fit(plain, *loaders(cifar_splits), epochs=2, progress=False, channels_last=False)
    assert nhwc[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert not nhwc[0].weight.is_contiguous()
    assert plain[0].weight.is_contiguous()
    assert a.train_loss == pytest.approx(b.train_loss, rel=0.02)
    assert a.val_acc == pytest.approx(b.val_acc, abs=0.05)


@pytest.mark.parametrize("opt", training.OPTIMIZERS)
def test_every_optimizer_by_name_trains(cifar_splits, opt):
    h = training.fit(small_cnn(), *loaders(cifar_splits), epochs=2, optimizer=opt,
                  lr=0.05 if opt in ("sgd", "momentum", "nesterov", "adagrad") else 3e-3,
                  weight_decay=1e-4, grad_clip=1.0, label_smoothing=0.1, scheduler="warmup_cosine",
                  warmup_epochs=0.5, progress=False)
    assert all(map(lambda v: v == v, h.train_loss))


def test_optimizer_names_give_torch_optimizers():
    expected = {"sgd": torch.optim.SGD, "momentum": torch.optim.SGD, "nesterov": torch.optim.SGD,
                "adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "rmsprop": torch.optim.RMSprop,
                "adagrad": torch.optim.Adagrad}
    assert set(expected) == set(training.OPTIMIZERS)
    for name, cls in expected.items():
        opt = training.make_optimizer(name, small_cnn().parameters(), 0.01, weight_decay=1e-4)
        assert type(opt) is cls and opt.defaults["weight_decay"] == 1e-4
    assert training.make_optimizer("nesterov", small_cnn().parameters(), 0.01).defaults["nesterov"]


def test_schedules():
    f = lambda name, s, **k: training.lr_factor(name, s, total_steps=100, steps_per_epoch=10, **k)
    assert f("none", 57) == 1.0
    assert f("exponential", 25, gamma=0.5) == 0.25
    assert f("cosine", 0) == 1.0 and f("cosine", 50) == pytest.approx(0.5) and f("cosine", 100) == pytest.approx(0)
    warm = [f("warmup_linear", s, warmup_steps=10) for s in range(10)]
    assert warm == pytest.approx([(s + 1) / 10 for s in range(10)])
    assert f("warmup_linear", 55, warmup_steps=10) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="unknown scheduler 'step'"):
        f("step", 3)
    with pytest.raises(ValueError, match="unknown optimizer 'lbfgs'"):
        training.make_optimizer("lbfgs", small_cnn().parameters(), 0.1)


def test_divergence_is_an_error_naming_epoch_and_step(cifar_splits):
    with pytest.raises(training.TrainingDiverged, match=r"epoch 0, step \d+.*lower learning rate"):
        training.fit(small_cnn(), *loaders(cifar_splits), epochs=3, optimizer="sgd", lr=1e8, progress=False)


def test_early_stopping_waits_for_min_epochs(cifar_splits):
    # a learning rate too small to change predictions: validation accuracy never improves
    h = training.fit(small_cnn(), *loaders(cifar_splits), epochs=20, lr=1e-12, patience=2, min_epochs=5,
                  progress=False)
    assert h.stopped_early and len(h.epoch) == 5


def test_checkpoints_are_complete_and_the_best_weights_come_back(cifar_splits, tmp_path):
    model = small_cnn()
    h = training.fit(model, *loaders(cifar_splits), epochs=4, lr=3e-3, checkpoint_dir=tmp_path, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt", "last.pt"]   # no temporary files left
    best = training.load_checkpoint(tmp_path / "best.pt")
    last = training.load_checkpoint(tmp_path / "last.pt")
    assert best["epoch"] == h.best_epoch and last["epoch"] == 3
    for k, v in model.state_dict().items():
        assert torch.equal(v, best["model"][k])
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        training.load_checkpoint(tmp_path / "nothing.pt")
    with pytest.raises(ValueError, match="checkpoint_dir"):
        training.fit(model, *loaders(cifar_splits), resume=True)


def _assert_same_run(model_a, hist_a, model_b, hist_b):
    for k, v in model_a.state_dict().items():
        assert torch.equal(v, model_b.state_dict()[k]), k
    a, b = hist_a.to_dict(), hist_b.to_dict()
    a.pop("seconds"), b.pop("seconds")
    assert a == b


def test_resume_after_an_interrupt_matches_an_uninterrupted_run(cifar_splits, tmp_path):
    kw = dict(epochs=4, lr=3e-3, progress=False, checkpoint_dir=tmp_path / "a")
    ref_model = small_cnn()
    ref = training.fit(ref_model, *loaders(cifar_splits), **kw)

    def interrupt(epoch, history):
        if epoch == 1:
            raise KeyboardInterrupt

    kw["checkpoint_dir"] = tmp_path / "b"
    with pytest.raises(KeyboardInterrupt):
        training.fit(small_cnn(), *loaders(cifar_splits), on_epoch_end=interrupt, **kw)
    model = small_cnn()
    resumed = training.fit(model, *loaders(cifar_splits), resume=True, **kw)
    _assert_same_run(ref_model, ref, model, resumed)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_resume_on_cuda_matches_an_uninterrupted_run(cifar_splits, tmp_path, monkeypatch):
    """On a GPU the checkpoint holds CUDA RNG states and the weights live on the device: resuming
    must restore both (loading last.pt straight onto the GPU broke torch.set_rng_state)."""
    tr, va, _ = cifar_splits
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", True)   # bit-identical convolutions
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)

    def gpu_loaders():
        return (data.Batches(tr, 32, shuffle=True, augment=augment.standard(), seed=0, device="cuda"),
                data.Batches(va, 60, device="cuda"))

    kw = dict(epochs=3, lr=3e-3, progress=False, amp=False, checkpoint_dir=tmp_path / "a")
    ref_model = small_cnn()
    ref = training.fit(ref_model, *gpu_loaders(), **kw)

    def interrupt(epoch, history):
        if epoch == 0:
            raise KeyboardInterrupt

    kw["checkpoint_dir"] = tmp_path / "b"
    with pytest.raises(KeyboardInterrupt):
        training.fit(small_cnn(), *gpu_loaders(), on_epoch_end=interrupt, **kw)
    model = small_cnn()
    resumed = training.fit(model, *gpu_loaders(), resume=True, **kw)
    assert next(model.parameters()).device.type == "cuda"
    _assert_same_run(ref_model, ref, model, resumed)


CHILD = """
import sys, time, torch
sys.path.insert(0, {root!r}); sys.path.insert(0, {tests!r})
torch.set_num_threads(1)
from helpers import data, training
from test_training import small_cnn, loaders
splits = data.splits("cifar10", {standin!r}, seed=0)
tr, va = loaders(splits)
tr.augment.append(lambda x, g: (time.sleep(0.02), x)[1])   # slow, so the kill lands mid-epoch
training.fit(small_cnn(), tr, va, epochs=4, lr=3e-3, progress=False, checkpoint_dir={ckpt!r})
"""


def test_killed_process_resumes_to_the_same_weights(cifar_splits, standin, tmp_path):
    ckpt = tmp_path / "killed"
    script = CHILD.format(root=str(ROOT), tests=str(ROOT / "tests"), standin=str(standin), ckpt=str(ckpt))
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)])
    try:
        deadline = time.time() + 120
        while time.time() < deadline:          # wait for the end of epoch 1, then kill during epoch 2
            if (ckpt / "last.pt").exists() and training.load_checkpoint(ckpt / "last.pt")["epoch"] >= 1:
                break
            assert child.poll() is None, "the training process ended before it could be killed"
            time.sleep(0.05)
        time.sleep(0.1)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    finally:
        if child.poll() is None:
            child.kill()
    assert training.load_checkpoint(ckpt / "last.pt")["epoch"] < 3, "killed too late to test resuming"
    model = small_cnn()
    resumed = training.fit(model, *loaders(cifar_splits), epochs=4, lr=3e-3, progress=False,
                        checkpoint_dir=ckpt, resume=True)
    ref_model = small_cnn()
    ref = training.fit(ref_model, *loaders(cifar_splits), epochs=4, lr=3e-3, progress=False,
                    checkpoint_dir=tmp_path / "ref")
    _assert_same_run(ref_model, ref, model, resumed)


def test_history_saves_atomically_as_json(tmp_path, cifar_splits):
    h = training.fit(small_cnn(), *loaders(cifar_splits), epochs=1, progress=False)
    h.save(tmp_path / "h.json")
    import json
    assert training.History.from_dict(json.loads((tmp_path / "h.json").read_text())) == h


def test_progress_modes(cifar_splits, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_PROGRESS", "text")
    training.fit(small_cnn(), *loaders(cifar_splits), epochs=2, progress=True)
    err = capsys.readouterr().err
    assert "100%" in err and "epoch 2/2" in err          # the stored text ends on the final state
    monkeypatch.setenv("COURSE_PROGRESS", "off")
    training.fit(small_cnn(), *loaders(cifar_splits), epochs=1, progress=True)
    assert "training" not in capsys.readouterr().err
    monkeypatch.setenv("COURSE_PROGRESS", "loud")
    with pytest.raises(ValueError, match="COURSE_PROGRESS must be auto, text or off, got 'loud'"):
        training.fit(small_cnn(), *loaders(cifar_splits), epochs=1)


# --------------------------------------------------------------------------- reliability


def _interrupted_run(cifar_splits, ckpt, **kw):
    """A training stopped after its first epoch, its last.pt in ``ckpt``."""
    def interrupt(epoch, history):
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        training.fit(small_cnn(), *loaders(cifar_splits), progress=False, checkpoint_dir=ckpt,
                  on_epoch_end=interrupt, **kw)


def test_resume_with_other_settings_is_refused_listing_them(cifar_splits, tmp_path):
    _interrupted_run(cifar_splits, tmp_path, epochs=3, lr=3e-3)
    with pytest.raises(ValueError, match=r"other settings \(lr 0\.003 there, 0\.01 here\).*resume=False"):
        training.fit(small_cnn(), *loaders(cifar_splits), epochs=3, lr=1e-2, progress=False,
                  checkpoint_dir=tmp_path, resume=True)
    with pytest.raises(ValueError, match=r"optimizer 'adamw' there, 'nesterov' here"):
        training.fit(small_cnn(), *loaders(cifar_splits), epochs=3, lr=3e-3, optimizer="nesterov",
                  progress=False, checkpoint_dir=tmp_path, resume=True)


def test_an_old_last_pt_with_another_optimizer_gives_an_error_naming_it(cifar_splits, tmp_path):
    _interrupted_run(cifar_splits, tmp_path, epochs=3, lr=3e-3, optimizer="adamw")
    state = training.load_checkpoint(tmp_path / "last.pt")
    del state["settings"]                      # as written before settings were recorded
    training.save_atomic(state, tmp_path / "last.pt")
    with pytest.raises(ValueError, match=r"last\.pt was written by a training with another optimizer"):
        training.fit(small_cnn(), *loaders(cifar_splits), epochs=3, lr=3e-3, optimizer="nesterov",
                  progress=False, checkpoint_dir=tmp_path, resume=True)


def test_fit_without_validation_never_returns_an_older_runs_weights(cifar_splits, tmp_path):
    old = small_cnn()
    training.fit(old, *loaders(cifar_splits), epochs=2, lr=3e-3, progress=False, checkpoint_dir=tmp_path)
    model = small_cnn()
    tr, _ = loaders(cifar_splits)
    training.fit(model, tr, None, epochs=1, lr=1e-2, progress=False, checkpoint_dir=tmp_path)
    trained = {k: v.clone() for k, v in model.state_dict().items()}
    assert any(not torch.equal(trained[k], v) for k, v in old.state_dict().items())
    best = training.load_checkpoint(tmp_path / "best.pt")["model"]     # the folder now describes this run
    assert all(torch.equal(best[k], v) for k, v in trained.items())


def test_non_finite_scores_count_as_wrong(cifar_splits):
    class Broken(nn.Module):                   # NaN scores for every image
        def forward(self, x):
            return torch.full((len(x), 10), float("nan")) + 0 * x.sum()
    _, va = loaders(cifar_splits)
    loss, acc = training._run_epoch(Broken(), va)
    assert acc == 0.0                           # argmax of a NaN row is 0: a tenth of the images
    ev = evaluate.evaluate(Broken(), va)
    assert ev.accuracy == 0.0 and int(ev.confusion.sum()) == 0


@pytest.mark.parametrize("content, match", [
    (b"", r"empty"),
    (b"not a checkpoint at all", r"cannot be read"),
])
def test_a_broken_checkpoint_is_named_in_the_error(tmp_path, content, match):
    path = tmp_path / "best.pt"
    path.write_bytes(content)
    with pytest.raises(training.CheckpointError, match=rf"checkpoint {path}.*{match}.*Delete it"):
        training.load_checkpoint(path)


class _Hostile:
    def __reduce__(self):
        return (os.makedirs, (str(ROOT / "runs" / "hostile-checkpoint-ran"),))


def test_a_hostile_checkpoint_is_refused_by_name_without_advice_to_unpickle_it(tmp_path):
    path = tmp_path / "last.pt"
    torch.save({"model": {}, "payload": _Hostile()}, path)
    with pytest.raises(training.CheckpointError, match=rf"checkpoint {path} holds objects other than tensors") as e:
        training.load_checkpoint(path)
    assert "weights_only=False" not in str(e.value)
    assert not (ROOT / "runs" / "hostile-checkpoint-ran").exists()


def test_amp_dtypes_and_a_bad_amp_value():
    cpu = torch.device("cpu")
    assert training.amp_dtype("auto", cpu) is None and training.amp_dtype(False, cpu) is None
    assert training.amp_dtype(True, cpu) == torch.bfloat16 and training.amp_dtype("fp16", cpu) == torch.float16
    with pytest.raises(ValueError, match=r"amp must be one of .*'fp16', got 'float16'"):
        training.amp_dtype("float16", cpu)


def test_fp16_with_a_grad_scaler_trains_and_resumes_to_the_same_run(cifar_splits, tmp_path):
    """float16 (GPUs without bf16, such as the T4) pairs with a GradScaler, whose state is part of
    last.pt: a resumed fp16 run ends like an uninterrupted one. Runs on the CPU."""
    kw = dict(epochs=3, lr=3e-3, amp="fp16")
    ref_model = small_cnn()
    ref = training.fit(ref_model, *loaders(cifar_splits), checkpoint_dir=tmp_path / "a", progress=False, **kw)
    assert ref.train_loss[-1] < ref.train_loss[0]
    assert training.load_checkpoint(tmp_path / "a" / "last.pt")["scaler"]["scale"] > 0
    _interrupted_run(cifar_splits, tmp_path / "b", **kw)
    model = small_cnn()
    resumed = training.fit(model, *loaders(cifar_splits), checkpoint_dir=tmp_path / "b", resume=True,
                        progress=False, **kw)
    _assert_same_run(ref_model, ref, model, resumed)


def test_resume_hands_cpu_byte_tensors_to_set_rng_state(cifar_splits, tmp_path, monkeypatch):
    """On a GPU, last.pt loaded with map_location=device turned the saved RNG states into device
    tensors, which torch.set_rng_state refuses. Whatever map_location the loader is asked for,
    the states handed over must be CPU byte tensors."""
    _interrupted_run(cifar_splits, tmp_path, epochs=2, lr=3e-3)
    real_load, handed = training.load_checkpoint, []

    def load_as_on_a_gpu(path, map_location="cpu"):
        state = real_load(path)
        if map_location != "cpu":          # what a device map_location does to the RNG states
            state["rng"] = {k: v.to("meta") for k, v in state.get("rng", {}).items()}
        return state
    monkeypatch.setattr(training, "load_checkpoint", load_as_on_a_gpu)
    real_set = torch.set_rng_state
    monkeypatch.setattr(torch, "set_rng_state", lambda s: (handed.append(s), real_set(s))[1])
    training.fit(small_cnn(), *loaders(cifar_splits), epochs=2, lr=3e-3, progress=False,
              checkpoint_dir=tmp_path, resume=True)
    assert handed and all(s.device.type == "cpu" and s.dtype == torch.uint8 for s in handed)


def test_seconds_per_step_times_fresh_training_steps_and_leaves_the_random_state_alone():
    forwards = []

    class Counting(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3 * 8 * 8, 10)

        def forward(self, x):
            forwards.append(x.shape)
            return self.fc(x.flatten(1))

    built = []
    state = torch.get_rng_state()
    seconds = training.seconds_per_step(lambda: built.append(1) or Counting(), 4, steps=3, device="cpu", image_size=8)
    assert torch.equal(torch.get_rng_state(), state)              # the notebook's random numbers are untouched
    assert built == [1] and forwards == [torch.Size([4, 3, 8, 8])] * 4   # one warm-up and three timed steps
    assert 0 < seconds < 60
    with pytest.raises(ValueError, match="steps >= 1"):
        training.seconds_per_step(Counting, 4, steps=0, device="cpu")


@pytest.mark.parametrize("channels_last", [True, False])
def test_seconds_per_step_times_the_memory_format_fit_trains_in(channels_last):
    seen = []

    class Recording(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)

        def forward(self, x):
            seen.append(x.is_contiguous(memory_format=torch.channels_last))
            return self.conv(x).mean((2, 3))

    training.seconds_per_step(Recording, 4, steps=1, device="cpu", image_size=8, channels_last=channels_last)
    assert seen == [channels_last] * 2
    seen.clear()
    training.seconds_per_step(Recording, 4, steps=1, device="cpu", image_size=8)   # "auto", as fit: on the CPU, it pays
    assert seen == [training.channels_last_pays(torch.device("cpu"))] * 2
