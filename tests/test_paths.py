"""Where per-user state lives, worked out without platformdirs (a TAB cannot pay for importing it)
yet exactly where platformdirs puts it; and the one reader of config files."""

from __future__ import annotations

import builtins
import os
import sys
from pathlib import Path
from typing import Any

import platformdirs
import pytest

from imagine import config, paths
from imagine.errors import ConfigError
from imagine.workflow import templating

XDG = ("XDG_DATA_HOME", "XDG_CONFIG_HOME")


@pytest.fixture
def no_imagine_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("IMAGINE_HOME", "IMAGINE_LEDGER", *XDG):
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "user"
    monkeypatch.setenv("HOME", str(home))
    return home


@pytest.mark.parametrize(
    "xdg",
    [
        {},  # unset: the defaults under HOME
        {"XDG_DATA_HOME": "/srv/data", "XDG_CONFIG_HOME": "/srv/conf"},
        {"XDG_DATA_HOME": "relative/data", "XDG_CONFIG_HOME": "./conf"},  # ignored, as relative
        {"XDG_DATA_HOME": "", "XDG_CONFIG_HOME": "/only/config"},
    ],
)
def test_the_folders_are_platformdirs_folders(
    xdg: dict[str, str], no_imagine_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in xdg.items():
        monkeypatch.setenv(name, value)
    assert paths.user_dir("data") == platformdirs.user_data_dir("imagine")
    assert paths.user_dir("config") == platformdirs.user_config_dir("imagine")
    assert paths.data_dir() == Path(platformdirs.user_data_dir("imagine"))
    assert paths.config_file() == Path(platformdirs.user_config_dir("imagine")) / "config.toml"
    assert paths.ledger_file() == Path(platformdirs.user_data_dir("imagine")) / "ledger.sqlite3"
    assert paths.ledger_location() == str(paths.ledger_file())


@pytest.mark.parametrize("xdg", [{}, {"XDG_DATA_HOME": "/srv/data", "XDG_CONFIG_HOME": "/c"}])
def test_the_macos_folders_are_platformdirs_macos_folders(
    xdg: dict[str, str], no_imagine_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from platformdirs.macos import MacOS

    for name, value in xdg.items():
        monkeypatch.setenv(name, value)
    mac = MacOS("imagine")
    assert paths._xdg_dir("data", "darwin") == mac.user_data_dir
    assert paths._xdg_dir("config", "darwin") == mac.user_config_dir


def test_a_relative_home_is_left_to_platformdirs(
    no_imagine_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", "not/absolute")
    assert paths._xdg_dir("data", sys.platform) is None
    assert paths.user_dir("data") == platformdirs.user_data_dir("imagine")


def test_imagine_home_moves_everything(imagine_home: Path) -> None:
    assert paths.config_file() == imagine_home / "config.toml"
    assert paths.ledger_location() == str(imagine_home / "ledger.sqlite3")


# -- one reader of the user config -------------------------------------------------------------


def _opens(monkeypatch: pytest.MonkeyPatch, path: Path) -> list[str]:
    """Every time `path` is opened from now on."""
    seen: list[str] = []
    real = builtins.open

    def counting(file: Any, *args: Any, **kwargs: Any) -> Any:
        if str(file) == str(path):
            seen.append(str(file))
        return real(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", counting)
    return seen


def _age(path: Path) -> None:
    """As a file written a minute ago: its mtime can no longer hide a change."""
    old = path.stat().st_mtime - 60
    os.utime(path, (old, old))


def test_the_user_config_is_read_once_for_settings_ledger_and_templates(
    imagine_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = imagine_home / "config.toml"
    imagine_home.mkdir(parents=True)
    user.write_text(
        'resolution = "720p"\nledger = "~/shared.sqlite3"\n'
        '[templates.noir]\ntext = "{prompt}, film noir"\nversion = 1\n'
    )
    _age(user)
    opened = _opens(monkeypatch, user)
    assert config.load().resolution == "720p"
    assert paths.ledger_file() == Path("~/shared.sqlite3").expanduser()
    assert "noir" in templating.load(None)
    assert config.load().resolution == "720p"
    assert len(opened) == 1


def test_a_change_is_seen_even_within_the_file_systems_clock_tick(
    imagine_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same size, same mtime (a coarse clock): a file written just now is compared again."""
    user = imagine_home / "config.toml"
    imagine_home.mkdir(parents=True)
    user.write_text('resolution = "480p"\n')
    assert config.load().resolution == "480p"
    stamp = user.stat().st_mtime_ns
    user.write_text('resolution = "720p"\n')
    os.utime(user, ns=(stamp, stamp))
    assert config.load().resolution == "720p"


def test_config_set_is_seen_by_the_next_read(imagine_home: Path) -> None:
    user = imagine_home / "config.toml"
    config.set_value(user, "resolution", "480p")
    _age(user)
    assert config.load().resolution == "480p"
    config.set_value(user, "resolution", "720p")
    assert config.load().resolution == "720p"


def test_a_broken_user_config_is_one_clear_error_wherever_it_is_read(imagine_home: Path) -> None:
    imagine_home.mkdir(parents=True)
    (imagine_home / "config.toml").write_text("ledger = [oops\n")
    for read in (config.load, paths.ledger_file):
        with pytest.raises(ConfigError, match=r"config\.toml is not valid TOML .*fix or remove it"):
            read()
