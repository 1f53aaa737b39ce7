import hashlib
import http.server
import pickle
import shutil
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

from helpers import augment, data, standin


# --- readers -------------------------------------------------------------------------------
def test_cifar10_reader_matches_torchvision(standin, monkeypatch):
    ours = data.load("cifar10", standin, "train")
    # torchvision reads the same standard files; only its checksum test must be skipped
    monkeypatch.setattr(torchvision.datasets.CIFAR10, "_check_integrity", lambda self: True)
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda *a, **k: True)
    tv = torchvision.datasets.CIFAR10(str(standin), train=True, download=False)
    assert ours.images.shape == (len(tv), 3, 32, 32) and ours.images.dtype == torch.uint8
    assert torch.equal(ours.images, torch.from_numpy(tv.data).permute(0, 3, 1, 2))
    assert ours.labels.tolist() == tv.targets
    assert ours.classes == tv.classes


def test_cifar100_has_fine_and_coarse_labels(standin):
    c = data.load("cifar100", standin, "test")
    assert c.num_classes == 100 and len(c.coarse_classes) == 20
    assert c.coarse_labels.shape == c.labels.shape
    # every fine class belongs to exactly one superclass
    for k in range(100):
        assert len(set(c.coarse_labels[c.labels == k].tolist())) == 1


def test_stl10_reader_reads_column_major_planes(tmp_path):
    folder = tmp_path / "stl10_binary"
    folder.mkdir()
    img = np.arange(2 * 3 * 96 * 96, dtype=np.int64).reshape(2, 3, 96, 96) % 251
    img = img.astype(np.uint8)
    for split in ("train", "test"):
        (folder / f"{split}_X.bin").write_bytes(img.transpose(0, 1, 3, 2).tobytes())
        (folder / f"{split}_y.bin").write_bytes(bytes([3, 10]))
    (folder / "class_names.txt").write_text("\n".join(standin._STL10_CLASSES))
    s = data.load("stl10", tmp_path, "train")
    assert torch.equal(s.images, torch.from_numpy(img))
    assert s.labels.tolist() == [2, 9]
    sub = s.select_classes(["car", "truck"])
    assert sub.labels.tolist() == [0, 1] and sub.classes == ["car", "truck"]


def test_stl10_subset_of_standin(standin):
    s = data.load("stl10", standin, "train").select_classes(data.STL10_SUBSET)
    assert s.images.shape[1:] == (3, 96, 96)
    assert s.classes == list(data.STL10_SUBSET)
    assert set(s.labels.tolist()) == set(range(5))


# --- failure paths -------------------------------------------------------------------------
def test_missing_folder_says_where_and_how(tmp_path):
    with pytest.raises(data.DatasetError) as e:
        data.load("cifar10", tmp_path, "train")
    msg = str(e.value)
    assert str(tmp_path / "cifar-10-batches-py") in msg
    assert "data_batch_1" in msg and "batches.meta" in msg
    assert "download=True" in msg and "cifar-10-python.tar.gz" in msg


def _copy_cifar10(standin, dest) -> Path:
    shutil.copytree(standin / "cifar-10-batches-py", dest / "cifar-10-batches-py")
    return dest


def test_truncated_pickle_is_an_error_naming_the_file(standin, tmp_path):
    root = _copy_cifar10(standin, tmp_path)
    f = root / "cifar-10-batches-py" / "data_batch_3"
    f.write_bytes(f.read_bytes()[:1000])
    with pytest.raises(data.DatasetError, match="data_batch_3.*truncated or malformed"):
        data.load("cifar10", root, "train")


def test_wrong_array_shape_is_an_error(standin, tmp_path):
    root = _copy_cifar10(standin, tmp_path)
    f = root / "cifar-10-batches-py" / "test_batch"
    f.write_bytes(pickle.dumps({"data": np.zeros((4, 100), np.uint8), "labels": [0, 1, 2, 3]}, protocol=2))
    with pytest.raises(data.DatasetError, match=r"test_batch is malformed.*\[4, 100\]"):
        data.load("cifar10", root, "test")


class _Evil:
    def __reduce__(self):
        import os
        return (os.system, (f"touch {_Evil.marker}",))


def test_malicious_pickle_is_refused_and_nothing_runs(standin, tmp_path):
    root = _copy_cifar10(standin, tmp_path)
    _Evil.marker = tmp_path / "pwned"
    (root / "cifar-10-batches-py" / "data_batch_1").write_bytes(
        pickle.dumps({"data": _Evil(), "labels": []}, protocol=2))
    with pytest.raises(data.DatasetError, match="refused to load (posix|os).system"):
        data.load("cifar10", root, "train")
    assert not _Evil.marker.exists()


def test_copy_that_differs_from_official_checksums_warns_once(standin, tmp_path, capsys):
    root = _copy_cifar10(standin, tmp_path)          # no STANDIN.json: looks like a user's copy
    data.load("cifar10", root, "train")
    data.load("cifar10", root, "train")
    err = capsys.readouterr().err
    assert err.count("WARNING") == 1 and "differ from the official checksums" in err


# --- download through torchvision, tested against a loopback server ------------------------
@pytest.fixture
def archive_server(tmp_path):
    served = tmp_path / "served"
    served.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):
            super().__init__(*a, directory=str(served), **k)

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _tar(standin, path):
    with tarfile.open(path, "w:gz") as t:
        t.add(standin / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_download_checks_the_archive_and_loads(standin, tmp_path, archive_server, monkeypatch):
    served, url = archive_server
    md5 = _tar(standin, served / "c10.tar.gz")
    monkeypatch.setattr(torchvision.datasets.CIFAR10, "url", f"{url}/c10.tar.gz")
    monkeypatch.setattr(torchvision.datasets.CIFAR10, "tgz_md5", md5)
    got = data.load("cifar10", tmp_path / "root", "train", download=True)
    assert torch.equal(got.images, data.load("cifar10", standin, "train").images)


def test_download_with_bad_checksum_is_refused(standin, tmp_path, archive_server, monkeypatch):
    served, url = archive_server
    _tar(standin, served / "c10.tar.gz")
    monkeypatch.setattr(torchvision.datasets.CIFAR10, "url", f"{url}/c10.tar.gz")
    monkeypatch.setattr(torchvision.datasets.CIFAR10, "tgz_md5", "0" * 32)
    with pytest.raises(data.DatasetError, match="Downloading it failed"):
        data.load("cifar10", tmp_path / "root", "train", download=True)
    assert not (tmp_path / "root" / "cifar-10-batches-py").exists()


def test_offline_download_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(torchvision.datasets.CIFAR10, "url", "http://127.0.0.1:9/cifar-10-python.tar.gz")
    with pytest.raises(data.DatasetError) as e:
        data.load("cifar10", tmp_path, "train", download=True)
    assert "Downloading it failed" in str(e.value) and str(tmp_path) in str(e.value)


def test_find_data_falls_back_to_standin_offline(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(torchvision.datasets.CIFAR10, "url", "http://127.0.0.1:9/cifar-10-python.tar.gz")
    monkeypatch.setenv("COURSE_STANDIN_DIR", str(tmp_path / "gen"))
    src = data.find_data("full", tmp_path / "empty", datasets=("cifar10",))
    assert src.generated and data.is_standin(src.root)
    out = capsys.readouterr().out
    assert out.startswith("DATA: GENERATED") and "could not be had" in out
    assert len(data.load("cifar10", src.root, "test")) > 0


def test_find_data_uses_real_folder_and_smoke_uses_generated(standin, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_STANDIN_DIR", str(tmp_path / "gen"))
    real = _copy_cifar10(standin, tmp_path / "real") if (tmp_path / "real").mkdir() is None else None
    src = data.find_data("full", real, datasets=("cifar10",))
    assert not src.generated and src.root == real
    out = capsys.readouterr()
    assert "DATA: real cifar10 (a copy whose files differ from the official checksums) from" in out.out
    assert out.err.count("WARNING") == 1          # one warning line for a folder that is not the original
    assert data.find_data("smoke", real).generated
    quick = data.find_data("quick", real, datasets=("cifar10",))     # the quick profile runs on the real data too
    assert not quick.generated and quick.root == real


def test_find_data_judges_each_dataset_on_its_own(standin, tmp_path, monkeypatch, capsys):
    real = _copy_cifar10(standin, tmp_path)
    shutil.copytree(standin / "cifar-100-python", real / "cifar-100-python")
    folder = real / "cifar-10-batches-py"
    for fname in data.DATASETS["cifar10"].md5:      # make this copy's CIFAR-10 files "the official" ones
        monkeypatch.setitem(data.DATASETS["cifar10"].md5, fname, data._md5(folder / fname))
    data.find_data("full", real, datasets=("cifar10", "cifar100"))
    line = capsys.readouterr().out.strip()
    assert line == ("DATA: real cifar10 (the original files, official checksums), "
                    f"cifar100 (a copy whose files differ from the official checksums) from {real}")


# --- ImageSet ------------------------------------------------------------------------------
def test_split_is_seeded_stratified_and_disjoint(standin):
    full = data.load("cifar10", standin, "train")
    a_tr, a_val = full.split(0.2, seed=1)
    b_tr, b_val = full.split(0.2, seed=1)
    c_tr, c_val = full.split(0.2, seed=2)
    assert torch.equal(a_val.images, b_val.images)
    assert not torch.equal(a_val.images, c_val.images)
    assert len(a_tr) + len(a_val) == len(full)
    assert (a_val.class_counts() == full.class_counts() // 5).all()
    # no image in both parts: compare flattened pixels
    tr_rows = {bytes(r) for r in a_tr.images.flatten(1).numpy()}
    assert not any(bytes(r) in tr_rows for r in a_val.images.flatten(1).numpy())


def test_per_class_and_channel_stats(standin):
    full = data.load("cifar10", standin, "train")
    few = full.per_class(3, seed=0)
    assert few.class_counts().tolist() == [3] * 10
    assert full.per_class(None) is full                  # None: the whole set (full profile's knobs)
    mean, std = full.channel_stats()
    x = full.images.float() / 255
    assert torch.allclose(mean, x.mean((0, 2, 3)), atol=1e-5)
    assert torch.allclose(std, x.permute(1, 0, 2, 3).flatten(1).std(1), atol=1e-4)


def test_imageset_validates_shapes():
    with pytest.raises(ValueError, match=r"uint8 \[N,C,H,W\]"):
        data.ImageSet(torch.zeros(2, 3, 4), torch.zeros(2), ["a", "b"])
    with pytest.raises(ValueError, match="labels must be"):
        data.ImageSet(torch.zeros(2, 3, 4, 4, dtype=torch.uint8), torch.zeros(3), ["a", "b"])


# --- Batches -------------------------------------------------------------------------------
def test_batches_cover_every_sample_once_per_epoch(cifar_splits):
    train, _, _ = cifar_splits
    b = data.Batches(train, 64, shuffle=True, seed=3)
    seen = torch.cat([y for _, y in b])
    assert len(seen) == len(train) and len(b) == -(-len(train) // 64)
    assert torch.equal(seen.sort().values, train.labels.sort().values)


def test_batches_are_deterministic_per_seed_and_epoch(cifar_splits):
    train, _, _ = cifar_splits

    def epoch(seed, e):
        b = data.Batches(train, 50, shuffle=True, augment=augment.standard(), seed=seed)
        b.set_epoch(e)
        return torch.cat([x for x, _ in b])

    assert torch.equal(epoch(0, 1), epoch(0, 1))
    assert not torch.equal(epoch(0, 1), epoch(0, 2))
    assert not torch.equal(epoch(0, 1), epoch(1, 1))


def test_batches_normalise_with_the_set_statistics(cifar_splits):
    train, _, _ = cifar_splits
    x = torch.cat([x for x, _ in data.Batches(train, 100)])
    assert x.dtype == torch.float32
    assert torch.allclose(x.mean((0, 2, 3)), torch.zeros(3), atol=1e-3)
    assert torch.allclose(x.std((0, 2, 3)), torch.ones(3), atol=1e-2)


def test_batches_drop_last_resize_and_device(cifar_splits):
    train, _, _ = cifar_splits
    b = data.Batches(train, 100, drop_last=True, size=64, device="auto")
    shapes = [x.shape for x, _ in b]
    assert len(shapes) == len(train) // 100 and shapes[0] == (100, 3, 64, 64)
    assert b.device == data.resolve_device("auto") and all(x.device.type == b.device.type for x, _ in b)
    with pytest.raises(ValueError, match="batch_size"):
        data.Batches(train, 0)


@pytest.mark.parametrize("flags, expected", [
    ("fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni", True),
    ("fpu sse2 avx2 amx_tile amx_bf16 amx_int8", True),
    ("fpu sse2 avx2 avx512f avx512_vnni", False),
])
def test_bf16_pays_on_the_cpu_follows_its_flags(tmp_path, flags, expected):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nmodel name\t: Test CPU\nflags\t\t: {flags}\n\n")
    assert data.bf16_pays(torch.device("cpu"), cpuinfo=str(cpuinfo)) is expected


def test_bf16_pays_is_off_without_cpuinfo_and_on_other_devices(tmp_path):
    assert data.bf16_pays(torch.device("cpu"), cpuinfo=str(tmp_path / "missing")) is False
    assert data.bf16_pays(torch.device("meta")) is False


def _tiny(labels, classes, **kw):
    return data.ImageSet(torch.zeros(len(labels), 3, 4, 4, dtype=torch.uint8), torch.tensor(labels), classes,
                         name="tiny", **kw)


@pytest.mark.parametrize("labels, classes, match", [
    ([0, 1, 2], ["a", "b"], r"labels in tiny range over 0..2, but classes names 2 \(labels 0..1\)"),
    ([0, -1], ["a", "b"], r"labels in tiny range over -1..0"),
])
def test_labels_outside_the_class_list_are_refused(labels, classes, match):
    with pytest.raises(ValueError, match=match):
        _tiny(labels, classes)


def test_coarse_labels_must_match_images_and_names():
    ok = _tiny([0, 1], ["a", "b"], coarse_labels=torch.tensor([0, 0]), coarse_classes=["ab"])
    assert ok.coarse_labels.tolist() == [0, 0]
    with pytest.raises(ValueError, match=r"coarse_labels in tiny must be one per image \(\[N\]=2\), got \[3\]"):
        _tiny([0, 1], ["a", "b"], coarse_labels=torch.tensor([0, 0, 0]), coarse_classes=["ab"])
    with pytest.raises(ValueError, match=r"coarse_labels in tiny range over 0..1, but coarse_classes names 1"):
        _tiny([0, 1], ["a", "b"], coarse_labels=torch.tensor([0, 1]), coarse_classes=["ab"])
    with pytest.raises(ValueError, match=r"give both or neither"):
        _tiny([0, 1], ["a", "b"], coarse_labels=torch.tensor([0, 0]))


def test_a_cifar_meta_file_with_too_few_class_names_is_refused(standin, tmp_path):
    root = _copy_cifar10(standin, tmp_path)
    meta = root / "cifar-10-batches-py" / "batches.meta"
    meta.write_bytes(pickle.dumps({"label_names": ["airplane", "automobile"], "num_cases_per_batch": 10,
                                   "num_vis": 3072}, protocol=2))
    with pytest.raises(data.DatasetError, match=r"cifar-10-batches-py is malformed: labels in cifar10/test range "
                                                r"over 0..9, but classes names 2.*names in batches.meta"):
        data.load("cifar10", root, "test")


def test_an_empty_stl10_file_is_an_error_naming_it(tmp_path):
    folder = tmp_path / "stl10_binary"
    folder.mkdir()
    for split in ("train", "test"):
        (folder / f"{split}_X.bin").write_bytes(b"")
        (folder / f"{split}_y.bin").write_bytes(b"")
    (folder / "class_names.txt").write_text("\n".join(standin._STL10_CLASSES))
    with pytest.raises(data.DatasetError, match=r"train_X.bin is empty \(0 bytes\).*fetch STL-10 again"):
        data.load("stl10", tmp_path, "train")
