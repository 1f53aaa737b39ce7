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

from helpers import augment, data, evaluate, train

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
    h = train.fit(model, *loaders(cifar_splits), epochs=6, lr=3e-3, progress=False)
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
    a = train.fit(small_cnn(), *loaders(cifar_splits), epochs=2, progress=False, seed=4)
    b = train.fit(small_cnn(), *loaders(cifar_splits), epochs=2, progress=False, seed=4)
    assert a.train_loss == b.train_loss and a.val_acc == b.val_acc


def test_cpu_training_uses_channels_last_and_learns_the_same(cifar_splits):
    """On the CPU ``fit`` trains conv nets in channels-last memory (about 1.3x faster there); the
    layout changes the order of float sums only, so the run learns what a contiguous run learns."""
    nhwc, plain = small_cnn(), small_cnn()
    a = train.fit(nhwc, *loaders(cifar_splits), epochs=2, progress=False)
    b = train.fit(plain, *loaders(cifar_splits), epochs=2, progress=False, channels_last=False)
    assert nhwc[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert not nhwc[0].weight.is_contiguous()
    assert plain[0].weight.is_contiguous()
    assert a.train_loss == pytest.approx(b.train_loss, rel=0.02)
    assert a.val_acc == pytest.approx(b.val_acc, abs=0.05)


@pytest.mark.parametrize("opt", train.OPTIMIZERS)
def test_every_optimizer_by_name_trains(cifar_splits, opt):
    h = train.fit(small_cnn(), *loaders(cifar_splits), epochs=2, optimizer=opt,
                  lr=0.05 if "sgd" in opt or opt in ("momentum", "nesterov") else 3e-3,
                  weight_decay=1e-4, grad_clip=1.0, label_smoothing=0.1, scheduler="warmup_cosine",
                  warmup_epochs=0.5, progress=False)
    assert all(map(lambda v: v == v, h.train_loss))


def test_schedules():
    f = lambda name, s, **k: train.lr_factor(name, s, total_steps=100, steps_per_epoch=10, **k)
    assert f("none", 57) == 1.0
    assert f("exponential", 25, gamma=0.5) == 0.25
    assert f("cosine", 0) == 1.0 and f("cosine", 50) == pytest.approx(0.5) and f("cosine", 100) == pytest.approx(0)
    warm = [f("warmup_linear", s, warmup_steps=10) for s in range(10)]
    assert warm == pytest.approx([(s + 1) / 10 for s in range(10)])
    assert f("warmup_linear", 55, warmup_steps=10) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="unknown scheduler 'step'"):
        f("step", 3)
    with pytest.raises(ValueError, match="unknown optimizer 'rmsprop'"):
        train.make_optimizer("rmsprop", small_cnn().parameters(), 0.1)


def test_divergence_is_an_error_naming_epoch_and_step(cifar_splits):
    with pytest.raises(train.TrainingDiverged, match=r"epoch 0, step \d+.*lower learning rate"):
        train.fit(small_cnn(), *loaders(cifar_splits), epochs=3, optimizer="sgd", lr=1e8, progress=False)


def test_early_stopping_waits_for_min_epochs(cifar_splits):
    # a learning rate too small to change predictions: validation accuracy never improves
    h = train.fit(small_cnn(), *loaders(cifar_splits), epochs=20, lr=1e-12, patience=2, min_epochs=5,
                  progress=False)
    assert h.stopped_early and len(h.epoch) == 5


def test_checkpoints_are_complete_and_the_best_weights_come_back(cifar_splits, tmp_path):
    model = small_cnn()
    h = train.fit(model, *loaders(cifar_splits), epochs=4, lr=3e-3, checkpoint_dir=tmp_path, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt", "last.pt"]   # no temporary files left
    best = train.load_checkpoint(tmp_path / "best.pt")
    last = train.load_checkpoint(tmp_path / "last.pt")
    assert best["epoch"] == h.best_epoch and last["epoch"] == 3
    for k, v in model.state_dict().items():
        assert torch.equal(v, best["model"][k])
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        train.load_checkpoint(tmp_path / "nothing.pt")
    with pytest.raises(ValueError, match="checkpoint_dir"):
        train.fit(model, *loaders(cifar_splits), resume=True)


def _assert_same_run(model_a, hist_a, model_b, hist_b):
    for k, v in model_a.state_dict().items():
        assert torch.equal(v, model_b.state_dict()[k]), k
    a, b = hist_a.to_dict(), hist_b.to_dict()
    a.pop("seconds"), b.pop("seconds")
    assert a == b


def test_resume_after_an_interrupt_matches_an_uninterrupted_run(cifar_splits, tmp_path):
    kw = dict(epochs=4, lr=3e-3, progress=False, checkpoint_dir=tmp_path / "a")
    ref_model = small_cnn()
    ref = train.fit(ref_model, *loaders(cifar_splits), **kw)

    def interrupt(epoch, history):
        if epoch == 1:
            raise KeyboardInterrupt

    kw["checkpoint_dir"] = tmp_path / "b"
    with pytest.raises(KeyboardInterrupt):
        train.fit(small_cnn(), *loaders(cifar_splits), on_epoch_end=interrupt, **kw)
    model = small_cnn()
    resumed = train.fit(model, *loaders(cifar_splits), resume=True, **kw)
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
    ref = train.fit(ref_model, *gpu_loaders(), **kw)

    def interrupt(epoch, history):
        if epoch == 0:
            raise KeyboardInterrupt

    kw["checkpoint_dir"] = tmp_path / "b"
    with pytest.raises(KeyboardInterrupt):
        train.fit(small_cnn(), *gpu_loaders(), on_epoch_end=interrupt, **kw)
    model = small_cnn()
    resumed = train.fit(model, *gpu_loaders(), resume=True, **kw)
    assert next(model.parameters()).device.type == "cuda"
    _assert_same_run(ref_model, ref, model, resumed)


CHILD = """
import sys, time, torch
sys.path.insert(0, {root!r}); sys.path.insert(0, {tests!r})
torch.set_num_threads(1)
from helpers import data, train
from test_train import small_cnn, loaders
splits = data.splits("cifar10", {standin!r}, seed=0)
tr, va = loaders(splits)
tr.augment.append(lambda x, g: (time.sleep(0.02), x)[1])   # slow, so the kill lands mid-epoch
train.fit(small_cnn(), tr, va, epochs=4, lr=3e-3, progress=False, checkpoint_dir={ckpt!r})
"""


def test_killed_process_resumes_to_the_same_weights(cifar_splits, standin, tmp_path):
    ckpt = tmp_path / "killed"
    script = CHILD.format(root=str(ROOT), tests=str(ROOT / "tests"), standin=str(standin), ckpt=str(ckpt))
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)])
    try:
        deadline = time.time() + 120
        while time.time() < deadline:          # wait for the end of epoch 1, then kill during epoch 2
            if (ckpt / "last.pt").exists() and train.load_checkpoint(ckpt / "last.pt")["epoch"] >= 1:
                break
            assert child.poll() is None, "the training process ended before it could be killed"
            time.sleep(0.05)
        time.sleep(0.1)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    finally:
        if child.poll() is None:
            child.kill()
    assert train.load_checkpoint(ckpt / "last.pt")["epoch"] < 3, "killed too late to test resuming"
    model = small_cnn()
    resumed = train.fit(model, *loaders(cifar_splits), epochs=4, lr=3e-3, progress=False,
                        checkpoint_dir=ckpt, resume=True)
    ref_model = small_cnn()
    ref = train.fit(ref_model, *loaders(cifar_splits), epochs=4, lr=3e-3, progress=False,
                    checkpoint_dir=tmp_path / "ref")
    _assert_same_run(ref_model, ref, model, resumed)


def test_history_saves_atomically_as_json(tmp_path, cifar_splits):
    h = train.fit(small_cnn(), *loaders(cifar_splits), epochs=1, progress=False)
    h.save(tmp_path / "h.json")
    import json
    assert train.History.from_dict(json.loads((tmp_path / "h.json").read_text())) == h


def test_evaluate_agrees_with_its_parts(cifar_splits):
    model = small_cnn()
    train.fit(model, *loaders(cifar_splits), epochs=3, lr=3e-3, progress=False)
    test = data.Batches(cifar_splits[2], 64)
    ev = evaluate.evaluate(model, test)
    n = len(cifar_splits[2])
    assert ev.probabilities.shape == (n, 10)
    assert torch.allclose(ev.probabilities.sum(1), torch.ones(n), atol=1e-5)
    assert ev.confusion.sum() == n and torch.equal(ev.confusion.sum(1), cifar_splits[2].class_counts())
    assert ev.accuracy == pytest.approx(ev.confusion.trace().item() / n)
    assert torch.allclose(ev.per_class, (ev.confusion.diag() / ev.confusion.sum(1)).double())
    with torch.no_grad():
        logits = torch.cat([model.eval()(x) for x, _ in test])
    expected = nn.functional.cross_entropy(logits, cifar_splits[2].labels).item()
    assert ev.loss == pytest.approx(expected, rel=1e-4)


def test_progress_modes(cifar_splits, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_PROGRESS", "text")
    train.fit(small_cnn(), *loaders(cifar_splits), epochs=2, progress=True)
    err = capsys.readouterr().err
    assert "100%" in err and "epoch 2/2" in err          # the stored text ends on the final state
    monkeypatch.setenv("COURSE_PROGRESS", "off")
    train.fit(small_cnn(), *loaders(cifar_splits), epochs=1, progress=True)
    assert "training" not in capsys.readouterr().err
    monkeypatch.setenv("COURSE_PROGRESS", "loud")
    with pytest.raises(ValueError, match="COURSE_PROGRESS must be auto, text or off, got 'loud'"):
        train.fit(small_cnn(), *loaders(cifar_splits), epochs=1)


def test_atomic_files_get_the_usual_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        path = train.save_atomic(b"data", tmp_path / "f.json")
    finally:
        os.umask(umask)
    assert path.read_bytes() == b"data" and (path.stat().st_mode & 0o777) == 0o644
