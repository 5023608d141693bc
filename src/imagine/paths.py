"""Where per-user state lives. One owner for every path, each with an environment override.

``IMAGINE_HOME`` moves all per-user state (config, credentials, ledger, simulator state);
``IMAGINE_LEDGER`` moves the ledger alone (CI keeps it in the workspace or a cache).
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from imagine.errors import ConfigError
from imagine.ledger.address import is_postgres

APP_NAME = "imagine"


def _home() -> Path | None:
    value = os.environ.get("IMAGINE_HOME")
    return Path(value).expanduser() if value else None


def config_dir() -> Path:
    home = _home()
    return home if home else Path(platformdirs.user_config_dir(APP_NAME))


def data_dir() -> Path:
    home = _home()
    return home if home else Path(platformdirs.user_data_dir(APP_NAME))


def config_file() -> Path:
    return config_dir() / "config.toml"


def credentials_file() -> Path:
    return config_dir() / "credentials"


def ledger_file() -> Path | str:
    """The ledger: a SQLite file, or a PostgreSQL URL (a str) shared by several machines, from
    IMAGINE_LEDGER or the user config's ``ledger`` setting."""
    value = os.environ.get("IMAGINE_LEDGER", "").strip() or _configured_ledger()
    if value:
        return value if is_postgres(value) else Path(value).expanduser()
    return data_dir() / "ledger.sqlite3"


def _configured_ledger() -> str | None:
    """The ``ledger`` setting of the user config, read alone (the config module is far heavier
    than what every command that opens the ledger should pay)."""
    path = config_file()
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read the config file {path} ({error})") from None
    if "ledger" not in text:
        return None
    import tomllib

    try:
        value = tomllib.loads(text).get("ledger")
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(
            f"the config file {path} is not valid TOML ({error})",
            hint="Fix it, or move it aside to start again",
        ) from None
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(
            f"ledger in {path} must be a file path or a postgresql:// URL",
            hint="Set it with imagine config set ledger postgresql://user@host/db",
        )
    return value.strip()


def sim_state_dir() -> Path:
    """State of the in-process simulator (``--sim``), kept so a later process can resume its jobs."""
    return data_dir() / "sim"
