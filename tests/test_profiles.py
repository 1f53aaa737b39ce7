import pytest

from helpers import profiles

DEFAULTS = {"smoke": {"epochs": 1, "lr": 0.1}, "quick": {"epochs": 5, "lr": 0.1}, "full": {"epochs": 30, "lr": 0.1}}


def test_profile_sets_defaults_and_explicit_values_win():
    assert profiles.resolve("full", DEFAULTS, epochs=None).epochs == 30
    assert profiles.resolve("smoke", DEFAULTS, epochs=None).epochs == 1
    assert profiles.resolve("smoke", DEFAULTS, epochs=7).epochs == 7
    assert profiles.resolve("smoke", DEFAULTS, epochs=7).profile == "smoke"


def test_profile_from_environment(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "full")
    assert profiles.resolve(None, DEFAULTS).profile == "full"
    monkeypatch.delenv("COURSE_PROFILE")
    assert profiles.profile_name(None) == "full"


def test_profile_errors(monkeypatch):
    with pytest.raises(ValueError, match="unknown profile 'fast'"):
        profiles.resolve("fast", DEFAULTS)
    monkeypatch.setenv("COURSE_PROFILE", "laptop")
    with pytest.raises(ValueError, match="COURSE_PROFILE"):
        profiles.profile_name(None)
    with pytest.raises(ValueError, match="unknown parameter"):
        profiles.resolve("smoke", DEFAULTS, epoch=3)
    with pytest.raises(ValueError, match="disagree"):
        profiles.resolve("smoke", {"smoke": {"a": 1}, "quick": {"a": 1}, "full": {"b": 2}})


def test_quick_profile_resolves_its_own_defaults():
    assert profiles.resolve("quick", DEFAULTS).epochs == 5
    with pytest.raises(ValueError, match="no values for profile"):
        profiles.resolve("full", {"smoke": {"a": 1}, "full": {"a": 2}})


def test_announce_prints_the_device_and_warns_only_for_a_long_cpu_run(capsys):
    full, quick = profiles.resolve("full", DEFAULTS), profiles.resolve("quick", DEFAULTS)
    dev = profiles.announce(full, "cpu", "02_mlp", amp=False)
    out = capsys.readouterr().out
    assert dev.type == "cpu"
    assert out.startswith("DEVICE: cpu (") and "bfloat16 mixed precision off" in out
    assert f"about {profiles.FULL_CPU_HOURS['02_mlp']:g} h" in out and "profile='quick'" in out
    assert "bfloat16 (AVX512-BF16)" not in out                    # 02 was measured in float32
    profiles.announce(full, "cpu", "05_vit", amp=False)
    out = capsys.readouterr().out
    assert "with bfloat16 (AVX512-BF16); without it, as here" in out and "up to about 40 without bfloat16" in out
    profiles.announce(full, "cpu", "05_vit", amp=True)           # measured as it runs here: the hours hold
    out = capsys.readouterr().out
    assert f"about {profiles.FULL_CPU_HOURS['05_vit']:g} h on a 2-core CPU." in out and "without it" not in out
    profiles.announce(quick, "cpu", "02_mlp")
    assert "NOTE" not in capsys.readouterr().out                  # the quick profile needs no warning
    profiles.announce(full, "cpu", "00_data")
    assert "NOTE" not in capsys.readouterr().out                  # nor does a notebook of seconds


def test_gpu_only_leaves_a_run_out_only_on_a_cpu_under_the_full_profile():
    full, smoke = profiles.resolve("full", DEFAULTS), profiles.resolve("smoke", DEFAULTS)
    assert profiles.gpu_only(60, None, full, "cpu") == 0
    assert profiles.gpu_only(60, None, full, "cuda") == 60
    assert profiles.gpu_only(60, 60, full, "cpu") == 60       # the notebook's own parameter asks for it
    assert profiles.gpu_only(2, None, smoke, "cpu") == 2
    assert profiles.gpu_only(5, None, full, "cpu", cpu=1) == 1    # a shorter run on the CPU instead of none
    assert profiles.gpu_only(5, None, full, "cuda", cpu=1) == 5
    assert profiles.gpu_only(5, 5, full, "cpu", cpu=1) == 5
    # any setting, not only epochs: fewer images or fewer variants on the CPU
    assert profiles.gpu_only(None, None, full, "cpu", cpu=1000) == 1000
    assert profiles.gpu_only(None, None, full, "cuda", cpu=1000) is None
    assert profiles.gpu_only(["a", "b", "c"], None, full, "cpu", cpu=["a"]) == ["a"]
    assert profiles.gpu_only(["a", "b", "c"], None, smoke, "cpu", cpu=["a"]) == ["a", "b", "c"]
