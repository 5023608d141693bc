"""Where per-user state lives. One owner for every path, each with an environment override.

``IMAGINE_HOME`` moves all per-user state (config, credentials, ledger, simulator state);
``IMAGINE_LEDGER`` moves the ledger alone (CI keeps it in the workspace or a cache).
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

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


def ledger_file() -> Path:
    value = os.environ.get("IMAGINE_LEDGER")
    if value:
        return Path(value).expanduser()
    return data_dir() / "ledger.sqlite3"


def sim_state_dir() -> Path:
    """State of the in-process simulator (``--sim``), kept so a later process can resume its jobs."""
    return data_dir() / "sim"
