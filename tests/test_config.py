"""Settings: precedence, checks with one-line messages, and the files they live in."""

from __future__ import annotations

from pathlib import Path

import pytest

from imagine import config, paths
from imagine.errors import ConfigError


def test_defaults() -> None:
    settings = config.load()
    assert (settings.model, settings.duration, settings.aspect, settings.resolution) == (
        "grok-imagine-video",
        8,
        "16:9",
        "480p",
    )
    assert settings.base_url == "https://api.x.ai"
    assert settings.prices["grok-imagine-video"]["480p"] == 0.05


def test_project_file_overrides_user_config(tmp_path: Path) -> None:
    config.set_value(paths.config_file(), "resolution", "720p")
    config.set_value(paths.config_file(), "duration", "6")
    project = tmp_path / "imagine.toml"
    project.write_text('duration = 4\n[prices."grok-imagine-video"]\n"720p" = 0.09\n')
    settings = config.load(project)
    assert (settings.resolution, settings.duration) == ("720p", 4)
    assert settings.prices["grok-imagine-video"]["720p"] == 0.09
    assert settings.prices["grok-imagine-video"]["480p"] == 0.05


def test_set_checks_before_writing() -> None:
    with pytest.raises(ConfigError, match="duration 16 is out of range"):
        config.set_value(paths.config_file(), "duration", "16")
    assert not paths.config_file().exists()
    with pytest.raises(ConfigError, match="unknown setting 'colour'"):
        config.set_value(paths.config_file(), "colour", "red")


def test_aliases_are_stored_as_the_model_they_stand_for() -> None:
    assert config.set_value(paths.config_file(), "model", "grok-imagine-video-1.5-preview") == (
        "grok-imagine-video-1.5"
    )


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("aspect", "auto", "aspect ratio 'auto' is not supported"),
        ("resolution", "4k", "resolution '4k' is not supported"),
        ("model", "grok-2", "unknown model 'grok-2'"),
        ("base_url", "ftp://x", "not an http(s) URL"),
        ("base_url", "https://api.x.ai/v1", "without /v1"),
        ("output", "{nope}", "unknown field {nope}"),
        ("concurrency", "0", "concurrency must be 1 or more"),
        ("audio", "maybe", "expected true or false"),
    ],
)
def test_bad_values_name_the_problem(key: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        config.parse_value(key, value, source="--flag")


def test_a_bad_config_file_names_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "imagine.toml"
    broken.write_text("duration = [\n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        config.load(broken)
    broken.write_text("duration = 99\n")
    with pytest.raises(ConfigError, match=r"duration in .*imagine.toml"):
        config.load(broken)


def test_unset() -> None:
    config.set_value(paths.config_file(), "rps", "2")
    assert config.load().rps == 2
    assert config.unset_value(paths.config_file(), "rps")
    assert config.load().rps == 1.0
    assert not config.unset_value(paths.config_file(), "rps")
