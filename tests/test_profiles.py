import pytest

from helpers import profiles

DEFAULTS = {"smoke": {"epochs": 1, "lr": 0.1}, "full": {"epochs": 30, "lr": 0.1}}


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
    monkeypatch.setenv("COURSE_PROFILE", "quick")
    with pytest.raises(ValueError, match="COURSE_PROFILE"):
        profiles.profile_name(None)
    with pytest.raises(ValueError, match="unknown parameter"):
        profiles.resolve("smoke", DEFAULTS, epoch=3)
    with pytest.raises(ValueError, match="disagree"):
        profiles.resolve("smoke", {"smoke": {"a": 1}, "full": {"b": 2}})
