import numpy as np
import pytest
import torch
import torch.nn as nn
from PIL import Image

from helpers import data, evaluate, plots
from helpers.training import fit

CLASSES = ["airplane", "automobile", "bird"]


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    images = {}
    for i in (3, 1, 10, 2, 5):                        # numeric order is 1, 2, 3, 5, 10
        a = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
        Image.fromarray(a).save(tmp_path / f"{i}.png")
        images[str(i)] = a
    (tmp_path / "6.png").write_bytes(b"not a png at all")
    Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(tmp_path / "7.png")
    return tmp_path, images


def model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 3))


def test_export_streams_skips_bad_images_and_writes_kaggle_csv(folder, tmp_path, capsys):
    src, images = folder
    net = model()
    mean, std = [0.5, 0.4, 0.3], [0.2, 0.25, 0.3]
    rows = evaluate.export_predictions(net, src, tmp_path / "out" / "sub.csv", CLASSES, mean, std,
                                       batch_size=2, device="cpu")
    lines = (tmp_path / "out" / "sub.csv").read_text().splitlines()
    assert rows == 5 and lines[0] == "id,label" and [l.split(",")[0] for l in lines[1:]] == ["1", "2", "3", "5", "10"]
    for line in lines[1:]:
        i, label = line.split(",")
        x = (torch.from_numpy(images[i]).permute(2, 0, 1).float() / 255 - torch.tensor(mean).view(3, 1, 1)) \
            / torch.tensor(std).view(3, 1, 1)
        assert label == CLASSES[net(x[None]).argmax(1).item()]
    err = capsys.readouterr().err
    assert err.count("WARNING") == 1 and "6.png" in err and "7.png" in err and "40x40" in err
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["sub.csv"]


def test_predict_folder_holds_one_batch_at_a_time(folder):
    src, _ = folder
    sizes = [len(ids) for ids, _ in evaluate.predict_folder(model(), src, [0.5] * 3, [0.25] * 3,
                                                             batch_size=2, device="cpu")]
    assert sizes and max(sizes) <= 2 and sum(sizes) == 5


def test_evaluation_plots(cifar_splits):
    torch.manual_seed(0)
    n, k = 60, 3
    probs = torch.softmax(torch.randn(n, k), 1)
    labels = torch.arange(n) % k
    ev = evaluate.Evaluation(1.0, 0.3, torch.rand(k), torch.bincount(labels * k + probs.argmax(1), minlength=9).view(3, 3),
                             probs, labels, CLASSES)
    for fig in (plots.per_class_accuracy({"a": ev, "b": ev}), plots.confusion(ev), plots.roc(ev),
                plots.confidently_wrong(torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8), ev, k=8)):
        assert fig.axes and (fig.axes[0].get_title() or fig._suptitle is not None)
    wrong = (probs.argmax(1) != labels).sum().item()
    fig = plots.confidently_wrong(torch.zeros(n, 3, 8, 8, dtype=torch.uint8), ev, k=100)
    assert sum(1 for ax in fig.axes if ax.images) == wrong          # only wrong predictions are shown


def test_an_oversized_image_is_skipped_by_name_and_the_rest_predicted(folder, tmp_path, capsys, monkeypatch):
    src, _ = folder
    Image.fromarray(np.zeros((100, 100, 3), np.uint8)).save(src / "8.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 2000)      # 100x100 is over twice that: a "bomb"
    rows = evaluate.export_predictions(model(), src, tmp_path / "out" / "sub.csv", CLASSES, [0.5] * 3, [0.25] * 3,
                                       device="cpu")
    assert rows == 5
    err = capsys.readouterr().err
    assert "8.png" in err and "decompression bomb" in err


def test_a_folder_without_images_is_an_error_and_writes_nothing(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"no PNG images in .*empty"):
        evaluate.export_predictions(model(), tmp_path / "empty", tmp_path / "sub.csv", CLASSES, [0.5] * 3, [0.25] * 3)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "1.png").write_bytes(b"broken")
    with pytest.raises(ValueError, match=r"none of the images in .*bad could be read \(1.png"):
        evaluate.export_predictions(model(), tmp_path / "bad", tmp_path / "sub.csv", CLASSES, [0.5] * 3, [0.25] * 3)
    assert not (tmp_path / "sub.csv").exists() and not list(tmp_path.glob(".sub.csv*"))


def test_evaluate_takes_the_loss_from_the_logits_and_leaves_the_models_mode(cifar_splits):
    from helpers import data
    _, val, _ = cifar_splits
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10), nn.Dropout(0.5))
    net.train()
    batches = data.Batches(val, 50)
    ev = evaluate.evaluate(net, batches)
    assert net.training                                            # left as it was
    net.eval()
    logits = torch.cat([net(x) for x, _ in batches]).double()
    assert ev.loss == pytest.approx(nn.functional.cross_entropy(logits, val.labels).item(), rel=1e-6)
    big = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10))
    with torch.no_grad():
        big[1].weight.mul_(1e4)                                    # saturated softmax: p(true) underflows to 0
    loss = evaluate.evaluate(big, batches).loss
    assert loss > 30                                               # log(clamp(p, 1e-12)) would cap it at 27.6


def test_evaluate_agrees_with_its_parts(cifar_splits):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(4), nn.Flatten(),
                          nn.Linear(8 * 8 * 8, 10))
    tr, va, _ = cifar_splits
    fit(model, data.Batches(tr, 32, shuffle=True), data.Batches(va, 64), epochs=3, lr=3e-3, progress=False)
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
