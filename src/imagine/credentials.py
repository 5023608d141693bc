"""The API key: ``XAI_API_KEY`` wins, else the credentials file (mode 0600). Never logged or stored elsewhere."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from imagine import paths
from imagine.atomic import write_atomic
from imagine.errors import AuthError, UsageError

ENV_VAR = "XAI_API_KEY"


@dataclass(frozen=True)
class ApiKey:
    value: str
    source: str  # "env" or the credentials file path

    @property
    def redacted(self) -> str:
        return redact(self.value)

    def __repr__(self) -> str:
        return f"ApiKey(value={self.redacted!r}, source={self.source!r})"


def redact(key: str) -> str:
    """Enough of a key to tell two apart, never enough to use: ``xai-…wxyz``."""
    if len(key) <= 8:
        return "…"
    return f"{key[:4]}…{key[-4:]}"


def find_key() -> ApiKey | None:
    value = os.environ.get(ENV_VAR, "").strip()
    if value:
        return ApiKey(value, "env")
    path = paths.credentials_file()
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, tomllib.TOMLDecodeError):
        raise AuthError(
            f"cannot read the credentials file {path}",
            hint="Run `imagine auth set` to write it again.",
        ) from None
    stored = str(table.get("api_key", "")).strip()
    return ApiKey(stored, str(path)) if stored else None


def require_key() -> ApiKey:
    key = find_key()
    if key is None:
        raise AuthError(
            "no API key: set XAI_API_KEY or run `imagine auth set`",
            hint='(or try it offline first: imagine gen --sim "a red fox").',
        )
    return key


def save_key(value: str) -> Path:
    key = value.strip()
    if not key or any(ch.isspace() for ch in key):
        raise UsageError("that does not look like an API key (empty or containing spaces)")
    path = paths.credentials_file()
    escaped = key.replace("\\", "\\\\").replace('"', '\\"')
    write_atomic(path, f'api_key = "{escaped}"\n'.encode(), mode=0o600)
    return path


def remove_key() -> Path | None:
    path = paths.credentials_file()
    try:
        path.unlink()
    except FileNotFoundError:
        return None
    return path
