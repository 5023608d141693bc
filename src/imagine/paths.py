"""Where per-user state lives. One owner for every path, each with an environment override.

``IMAGINE_HOME`` moves all per-user state (config, credentials, ledger, simulator state);
``IMAGINE_LEDGER`` moves the ledger alone (CI keeps it in the workspace or a cache).

Light on purpose: a TAB on a job reference (cli/quick.py) asks where the ledger is, and pays for
every import here. So the locations are worked out with ``os.path`` alone (platformdirs' rules
for Linux and macOS; platformdirs itself elsewhere), and pathlib, tomllib and the errors are
imported only by the functions that need them.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing itself costs a TAB a few ms
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

APP_NAME = "imagine"
CONFIG_NAME = "config.toml"
LEDGER_NAME = "ledger.sqlite3"

# platformdirs' user directories under Linux and the BSDs: the XDG variable if it holds an
# absolute path, else the default under the home folder. (macOS: the same variables, else one
# folder for both.)
_XDG = {"data": ("XDG_DATA_HOME", "~/.local/share"), "config": ("XDG_CONFIG_HOME", "~/.config")}
_MACOS = "~/Library/Application Support"


def _path(text: str) -> Path:
    from pathlib import Path

    return Path(text)


def _home() -> str | None:
    value = os.environ.get("IMAGINE_HOME")
    return os.path.expanduser(value) if value else None


def user_dir(kind: str) -> str:
    """platformdirs' ``user_data_dir`` (kind "data") or ``user_config_dir`` ("config") for
    imagine, by its rules for Linux and macOS without importing it (18 ms a TAB here);
    tests/test_paths.py checks both answers agree."""
    found = _xdg_dir(kind, sys.platform)
    if found is not None:
        return found
    import platformdirs  # Windows, Android, iOS, or a home folder that is not absolute

    return (
        platformdirs.user_data_dir(APP_NAME)
        if kind == "data"
        else platformdirs.user_config_dir(APP_NAME)
    )


def _xdg_dir(kind: str, platform: str) -> str | None:
    """The folder by platformdirs' XDG rules, or None where they are not the ones it follows."""
    android = (
        os.environ.get("ANDROID_DATA") == "/data" and os.environ.get("ANDROID_ROOT") == "/system"
    )
    if platform in ("win32", "ios") or android or hasattr(sys, "getandroidapilevel"):
        return None
    variable, default = _XDG[kind]
    base = os.environ.get(variable, "")
    if not os.path.isabs(base):  # platformdirs ignores a relative XDG_* value
        home = os.environ.get("HOME")
        if home is not None and not os.path.isabs(home):
            return None  # platformdirs then asks the password database: so do we, through it
        base = os.path.expanduser(_MACOS if platform == "darwin" else default)
        if not os.path.isabs(base):
            return None
    return os.path.join(base, APP_NAME)


def config_dir() -> Path:
    return _path(_home() or user_dir("config"))


def data_dir() -> Path:
    return _path(_home() or user_dir("data"))


def config_file() -> Path:
    return _path(_config_location())


def _config_location() -> str:
    return os.path.join(_home() or user_dir("config"), CONFIG_NAME)


def credentials_file() -> Path:
    return config_dir() / "credentials"


def ledger_file() -> Path | str:
    """The ledger: a SQLite file, or a PostgreSQL URL (a str) shared by several machines, from
    IMAGINE_LEDGER or the user config's ``ledger`` setting."""
    from imagine.ledger.address import is_postgres

    where = ledger_location()
    return where if is_postgres(where) else _path(where)


def ledger_location() -> str:
    """ledger_file() as a str, without pathlib: the quick completion path reads this."""
    from imagine.ledger.address import is_postgres

    value = os.environ.get("IMAGINE_LEDGER", "").strip() or _configured_ledger()
    if value:
        return value if is_postgres(value) else os.path.expanduser(value)
    return os.path.join(_home() or user_dir("data"), LEDGER_NAME)


def _configured_ledger() -> str | None:
    """The ``ledger`` setting of the user config. A file that does not mention it is not parsed
    (tomllib costs a TAB 30 ms)."""
    location = _config_location()
    data = _contents(location)
    if data is None or b"ledger" not in data:
        return None
    value = read_table(_path(location)).get("ledger")
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        from imagine.errors import ConfigError

        raise ConfigError(
            f"ledger in {location} must be a file path or a postgresql:// URL",
            hint="Set it with imagine config set ledger postgresql://user@host/db",
        )
    return value.strip()


# -- the one reader of config files ------------------------------------------------------------

# path -> (the file's stat when read, when it was read, its bytes, its table once parsed).
_read: dict[str, tuple[tuple[int, ...], int, bytes, dict[str, Any] | None]] = {}
# A file changed within this long of being read may have kept its mtime (the file system's
# clock is coarse): its bytes are compared again, as git does for a "racily clean" entry.
_RACY_NS = 2_000_000_000


def read_table(path: Path) -> dict[str, Any]:
    """A TOML config file's table, or {} when it does not exist; a ConfigError saying what is
    wrong otherwise. Each file is read and parsed once per process while it stays as it was
    (the user config is asked for by config.load, the ledger's location, templates and rules).
    The table is shared: read it, do not change it."""
    where = str(path)
    data = _contents(where)
    if data is None:
        return {}
    stat, read_at, _, table = _read[where]
    if table is None:
        table = _parse(where, data)
        _read[where] = (stat, read_at, data, table)
    return table


def forget(path: Path) -> None:
    """Drop what was read of ``path`` (imagine has just written it)."""
    _read.pop(str(path), None)


def _contents(where: str) -> bytes | None:
    """The file's bytes (None if there is none), read again only if it may have changed."""
    try:
        stat = os.stat(where)
        key = (stat.st_ino, stat.st_dev, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)
        known = _read.get(where)
        if known is not None and known[0] == key and stat.st_mtime_ns < known[1] - _RACY_NS:
            return known[2]
        read_at = _now_ns()
        with open(where, "rb") as file:
            stat = os.fstat(file.fileno())
            key = (stat.st_ino, stat.st_dev, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)
            data = file.read()
    except FileNotFoundError:
        _read.pop(where, None)
        return None
    except OSError as error:
        from imagine.errors import ConfigError

        raise ConfigError(f"cannot read {where}: {error.strerror}") from None
    if known is None or known[2] != data:
        known = (key, read_at, data, None)
    _read[where] = (key, read_at, data, known[3])
    return data


def _now_ns() -> int:
    import time

    return time.time_ns()


def _parse(where: str, data: bytes) -> dict[str, Any]:
    import tomllib

    from imagine.errors import ConfigError

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"{where} is not UTF-8 text (bad byte at offset {error.start}): save it as UTF-8"
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{where} is not valid TOML ({error}); fix or remove it") from None
    except (RecursionError, ValueError) as error:
        # Values nested thousands deep, or a number of thousands of digits: no setting looks so.
        why = "nested too deep" if isinstance(error, RecursionError) else "a number too long"
        raise ConfigError(f"{where} cannot be read ({why}); fix or remove it") from None


def sim_state_dir() -> Path:
    """State of the in-process simulator (``--sim``), kept so a later process can resume its jobs."""
    return data_dir() / "sim"
