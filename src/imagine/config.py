"""Settings: built-in defaults < user config.toml < project imagine.toml < command-line flags.

Both files hold the same flat keys (see ``SETTINGS``); prices live in a ``[prices.<model>]`` table.
Every value, wherever it comes from, passes through the same checks, so a typo in a config file gets
the same one-line error as a typo on the command line.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from imagine import paths
from imagine.api import contract
from imagine.atomic import write_atomic
from imagine.errors import ConfigError
from imagine.money.pricing import DEFAULT_PRICES
from imagine.rules.ruleset import PolicyLevel

if TYPE_CHECKING:
    from imagine.admin import Admin

DEFAULT_BASE_URL = "https://api.x.ai"
DEFAULT_OUTPUT = "renders/{date}-{slug}-{short}"
_HOST = re.compile(r"[A-Za-z0-9._-]+|[0-9A-Fa-f:.]+(%[\w.-]+)?")  # a name, IPv4, or IPv6
_MAX_DIGITS = 100  # a whole-number setting this long is a mistake, not a value to convert


@dataclass(frozen=True)
class Settings:
    model: str = contract.BASE_MODEL
    duration: int = contract.DEFAULT_DURATION
    aspect: str = "16:9"
    resolution: str = "480p"
    audio: bool = True
    output: str = DEFAULT_OUTPUT
    base_url: str = DEFAULT_BASE_URL
    rps: float = 1.0
    concurrency: int = 4
    confirm_above_usd: float = 1.0
    max_cost_usd: float | None = None
    max_download_mb: int = 2048
    retention_days: int | None = None
    prices: Mapping[str, Mapping[str, float]] = field(default_factory=lambda: DEFAULT_PRICES)
    # [budget] caps (imagine.money.caps): the user config's count every job in the ledger, a
    # project's imagine.toml's count only that project's jobs.
    daily_usd: float | None = None
    monthly_usd: float | None = None
    project_daily_usd: float | None = None
    project_monthly_usd: float | None = None
    budget_timezone: str | None = None  # the calendar's zone; None: the system's local time
    preview_resolution: str = "480p"
    preview_duration: int = 3
    user: str | None = None  # the end user sent as `user` for xAI's abuse monitoring
    policy: PolicyLevel = PolicyLevel.STANDARD
    # Limits an admin policy file usually sets (and locks); a user or project may set them too.
    allow_edits: bool = True
    allow_uploads: bool = True
    allow_models: tuple[str, ...] | None = None  # None: every model
    max_resolution: str | None = None
    require_consent_for_edits: bool = False
    storage: str | None = None  # s3://bucket/prefix: the shared bucket finished renders go to
    ledger: str | None = None  # read by paths.ledger_file (IMAGINE_LEDGER wins over it)

    def with_overrides(self, **overrides: Any) -> Settings:
        """Apply command-line values; None means "not given"."""
        given = {key: value for key, value in overrides.items() if value is not None}
        return replace(self, **given)


def _model(value: Any) -> str:
    name = _text(value)
    model = contract.canonical_model(name)
    if model is None:
        known = ", ".join(contract.MODELS)
        raise ValueError(f"unknown model {name!r}: choose {known} (see `imagine models`)")
    return model


def _duration(value: Any) -> int:
    number = _integer(value)
    if not contract.MIN_DURATION <= number <= contract.MAX_DURATION:
        raise ValueError(f"duration {number} is out of range: the API accepts 1 to 15 seconds")
    return number


def _aspect(value: Any) -> str:
    aspect = _text(value)
    if aspect not in contract.ASPECT_RATIOS:
        allowed = ", ".join(contract.ASPECT_RATIOS)
        raise ValueError(f"aspect ratio {aspect!r} is not supported: choose one of {allowed}")
    return aspect


def _resolution(value: Any) -> str:
    resolution = _text(value).lower()
    if resolution not in contract.RESOLUTIONS:
        allowed = ", ".join(contract.RESOLUTIONS)
        raise ValueError(f"resolution {resolution!r} is not supported: choose one of {allowed}")
    return resolution


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected a non-empty string, got {value!r}")
    return value.strip()


def _integer(value: Any) -> int:
    if isinstance(value, bool) or (isinstance(value, str) and len(value) > _MAX_DIGITS):
        raise ValueError(f"expected a whole number, got {_shown(value)}")
    if isinstance(value, int):
        return value
    try:
        return int(str(value), 10)
    except ValueError:
        raise ValueError(f"expected a whole number, got {_shown(value)}") from None


def _finite(value: Any, expected: str) -> float:
    """A float that is a real amount: NaN compares false with every limit (a budget of NaN
    would never refuse anything) and infinity is no amount either."""
    if isinstance(value, bool):
        raise ValueError(f"expected {expected}, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"expected {expected}, got {_shown(value)}") from None
    if not math.isfinite(number):
        raise ValueError(f"expected {expected}, got {_shown(value)} (not a finite number)")
    return number


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _positive_number(value: Any) -> float:
    number = _finite(value, "a number")
    if number <= 0:
        raise ValueError(f"expected a number above 0, got {value!r}")
    return number


def _usd(value: Any) -> float:
    number = _finite(value, "an amount in USD")
    if number < 0:
        raise ValueError(f"expected an amount of 0 or more, got {value!r}")
    return number


def _timezone(value: Any) -> str:
    """An IANA zone name (Europe/Paris, UTC), checked against the zone database."""
    import zoneinfo

    name = _text(value)
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {_shown(name)}: give an IANA name like UTC") from None
    return name


def _concurrency(value: Any) -> int:
    number = _integer(value)
    if number < 1:
        raise ValueError(f"concurrency must be 1 or more, got {number}")
    return number


def _megabytes(value: Any) -> int:
    number = _integer(value)
    if number < 1:
        raise ValueError(f"expected a size in MB of 1 or more, got {number}")
    return number


def _days(value: Any) -> int:
    number = _integer(value)
    if number < 1:
        raise ValueError(f"expected a number of days of 1 or more, got {number}")
    return number


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"true", "yes", "on", "1"}:
        return True
    if text in {"false", "no", "off", "0"}:
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def _base_url(value: Any) -> str:
    url = _text(value).rstrip("/")
    like = "an http(s) URL like https://api.x.ai"
    try:
        parts = urlsplit(url)
        port = parts.port  # read here: an out-of-range port raises only when asked for
    except ValueError as error:
        raise ValueError(f"base URL {_shown(url)} is not {like} ({error})") from None
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError(f"base URL {_shown(url)} is not {like}")
    if port == 0 or not _HOST.fullmatch(parts.hostname) or not url.isprintable() or " " in url:
        raise ValueError(f"base URL {_shown(url)} names no valid host and port: give {like}")
    if parts.username is not None or parts.password is not None:
        # The base URL is stored with every job: a password in it would land in the ledger.
        raise ValueError(
            "base URL must not hold a user name or password: the key goes in XAI_API_KEY"
        )
    if parts.query or parts.fragment:
        raise ValueError(f"base URL {_shown(url)} must not have a query or fragment: give {like}")
    if parts.path.rstrip("/").endswith("/v1"):
        raise ValueError(f"base URL {url!r} should be the API root without /v1 (routes add it)")
    return url


def _user(value: Any) -> str:
    """An end-user id: one printable line, short (it is sent with every request and recorded)."""
    user = _text(value)
    if len(user) > 256 or not user.isprintable():
        raise ValueError(
            f"user {_shown(user)} must be one printable line of at most 256 characters"
        )
    return user


def _storage(value: Any) -> str:
    from imagine.bucket.location import parse

    return str(parse(_text(value)))


def _ledger(value: Any) -> str:
    """A PostgreSQL URL (no password: PGPASSWORD or ~/.pgpass), or a SQLite file's path."""
    from imagine.ledger.address import check_url, is_postgres

    text = _text(value)
    if is_postgres(text):
        return check_url(text)
    if "://" in text:
        raise ValueError(f"ledger {_shown(text)} is neither a file path nor a postgresql:// URL")
    return text


def _output(value: Any) -> str:
    from imagine.project import check_template

    template = _text(value)
    check_template(template)
    return template


def _policy_level(value: Any) -> PolicyLevel:
    text = _text(value).lower()
    if text not in tuple(PolicyLevel):
        raise ValueError(f"policy {text!r} is not a level: choose standard or strict")
    return PolicyLevel(text)


def _models(value: Any) -> tuple[str, ...]:
    names = value.split(",") if isinstance(value, str) else value
    if not isinstance(names, list | tuple) or not names:
        raise ValueError(f"expected a list of model names, got {_shown(value)}")
    return tuple(dict.fromkeys(_model(name) for name in names))


@dataclass(frozen=True)
class Setting:
    key: str
    parse: Callable[[Any], Any]
    help: str


SETTINGS: dict[str, Setting] = {
    s.key: s
    for s in (
        Setting("model", _model, "model for new renders"),
        Setting("duration", _duration, "seconds of video, 1-15"),
        Setting("aspect", _aspect, "aspect ratio: " + " ".join(contract.ASPECT_RATIOS)),
        Setting("resolution", _resolution, "480p, 720p or 1080p (1080p on grok-imagine-video-1.5)"),
        Setting("audio", _boolean, "generate an audio track"),
        Setting("output", _output, "output path template, relative to the project"),
        Setting("base_url", _base_url, "API root, e.g. https://api.x.ai"),
        Setting("rps", _positive_number, "job starts per second per model"),
        Setting("concurrency", _concurrency, "renders in flight at once"),
        Setting("confirm_above_usd", _usd, "ask before spending more than this on a terminal"),
        Setting("max_cost_usd", _usd, "refuse a command whose estimate exceeds this"),
        Setting("max_download_mb", _megabytes, "largest video file downloaded, in MB"),
        Setting("preview_resolution", _resolution, "resolution of a --preview render"),
        Setting("preview_duration", _duration, "seconds of a --preview render"),
        Setting("user", _user, "end-user id sent with each request (xAI abuse monitoring)"),
        Setting("policy", _policy_level, "prompt rules: standard, or strict (age-appropriate)"),
        Setting("allow_edits", _boolean, "allow `imagine edit`"),
        Setting("allow_uploads", _boolean, "allow sending local files (else URLs only)"),
        Setting("allow_models", _models, "the only models allowed (comma-separated)"),
        Setting("max_resolution", _resolution, "the highest resolution allowed"),
        Setting(
            "require_consent_for_edits", _boolean, "edits need --consent or a yes, not a file's"
        ),
        Setting("retention_days", _days, "`imagine gc` purges finished jobs older than this"),
        Setting("storage", _storage, "shared bucket for finished renders, s3://bucket/prefix"),
        Setting("ledger", _ledger, "the ledger: a file, or postgresql://user@host/db to share"),
    )
}


# Keys of the [budget] table, written budget.<key> (in `imagine config set` too).
BUDGET_SETTINGS: dict[str, Setting] = {
    s.key: s
    for s in (
        Setting("budget.daily_usd", _usd, "spend cap per calendar day (USD)"),
        Setting("budget.monthly_usd", _usd, "spend cap per calendar month (USD)"),
        Setting("budget.timezone", _timezone, "time zone of budget days (default: local)"),
    )
}


def budget_field(key: str, *, project: bool) -> str:
    """The Settings field a [budget] key sets: a project's caps are its own, not the user's."""
    name = key.removeprefix("budget.")
    if name == "timezone":
        return "budget_timezone"
    return f"project_{name}" if project else name


def parse_value(key: str, value: Any, *, source: str) -> Any:
    """Check one setting; raise ConfigError naming the source and the fix."""
    if key.startswith("prices."):
        return _price(key, value, source=source)
    if key.startswith("budget."):
        setting = BUDGET_SETTINGS.get(key)
        if setting is None:
            known = ", ".join(BUDGET_SETTINGS)
            raise ConfigError(f"unknown budget setting {key!r} in {source}; known: {known}")
        try:
            return setting.parse(value)
        except ValueError as error:
            raise ConfigError(f"{error} ({_where(key, source)})") from None
    setting = SETTINGS.get(key)
    if setting is None:
        known = ", ".join(SETTINGS)
        place = f" in {source}" if source else ""
        raise ConfigError(f"unknown setting {key!r}{place}; known settings: {known}")
    try:
        return setting.parse(value)
    except ValueError as error:
        raise ConfigError(f"{error} ({_where(key, source)})") from None


def _where(key: str, source: str) -> str:
    """Name the place to fix: a flag as it is, a file with the key inside it."""
    if source.startswith("-"):
        return source
    return f"{key} in {source}" if source else key


def _price(key: str, value: Any, *, source: str) -> float:
    parts = key.split(".")
    if len(parts) != 3 or contract.canonical_model(parts[1]) is None:
        raise ConfigError(f"{key!r} in {source} should look like prices.<model>.<resolution>")
    if parts[2] not in contract.RESOLUTIONS:
        raise ConfigError(f"{key!r} in {source}: resolution must be one of 480p, 720p, 1080p")
    try:
        return _usd(value)
    except ValueError as error:
        raise ConfigError(f"{error} ({_where(key, source)})") from None


def flatten(table: Mapping[str, Any]) -> dict[str, Any]:
    """Settings as flat keys, prices as prices.<model>.<resolution>."""
    flat: dict[str, Any] = {}
    for key, value in table.items():
        if key == "prices" and isinstance(value, Mapping):
            for model, row in value.items():
                if not isinstance(row, Mapping):
                    raise ConfigError(
                        f"prices.{model} should be a table of prices by resolution, like "
                        f"[prices.{contract.BASE_MODEL}] 480p = 0.05, got {_shown(row)}"
                    )
                for resolution, price in row.items():
                    flat[f"prices.{model}.{resolution}"] = price
        elif key == "budget" and isinstance(value, Mapping):
            flat.update((f"budget.{name}", cap) for name, cap in value.items())
        elif key == "policy" and isinstance(value, Mapping):
            # [policy]: level = "strict" beside the rules (read by imagine.rules)
            unknown = sorted(set(value) - {"level", "rules"})
            if unknown:
                raise ConfigError(
                    f"unknown key policy.{unknown[0]}: [policy] holds level and rules"
                )
            if "level" in value:
                flat["policy"] = value["level"]
        elif key not in (
            "project",
            "templates",
        ):  # (templates: imagine.workflow.templating reads them)
            flat[key] = value
    return flat


def checked_values(table: Mapping[str, Any], *, source: str) -> dict[str, Any]:
    """A config file's settings as flat keys, each value checked."""
    try:
        values = flatten(table)
    except ConfigError as error:
        raise ConfigError(f"{error.message} (in {source})") from None
    return {key: parse_value(key, raw, source=source) for key, raw in values.items()}


def apply_file(settings: Settings, path: Path, *, project: bool = False) -> Settings:
    values = checked_values(paths.read_table(path), source=str(path))
    return apply_values(settings, values, project=project)


def apply_values(
    settings: Settings, values: Mapping[str, Any], *, project: bool = False
) -> Settings:
    """``project``: the values are a project's, whose [budget] caps count its jobs only."""
    prices = {model: dict(row) for model, row in settings.prices.items()}
    changes: dict[str, Any] = {}
    for key, value in values.items():
        if key.startswith("prices."):
            _, model, resolution = key.split(".")
            prices.setdefault(contract.canonical_model(model) or model, {})[resolution] = value
        elif key.startswith("budget."):
            changes[budget_field(key, project=project)] = value
        else:
            changes[key] = value
    return replace(settings, prices=prices, **changes)


def load_admin() -> Admin | None:
    """The admin policy in force (imagine.admin), checked as strictly as any config file, or None."""
    from imagine import admin
    from imagine.rules import rules_from_file

    path = admin.admin_file()
    if path is None:
        return None
    values = checked_values(paths.read_table(path), source=str(path))
    return admin.Admin(path=path, values=values, rules=tuple(rules_from_file(path, "admin file")))


def load(project_file: Path | None = None) -> Settings:
    """Defaults < user config < project file < the admin policy file, which nobody overrides."""
    settings = apply_file(Settings(), paths.config_file())
    if project_file is not None:
        settings = apply_file(settings, project_file, project=True)
    user = os.environ.get("IMAGINE_USER")
    if user:
        settings = replace(settings, user=parse_value("user", user, source="IMAGINE_USER"))
    locked = load_admin()
    if locked is not None:
        settings = apply_values(settings, locked.values)
    storage = os.environ.get("IMAGINE_STORAGE")
    if storage:
        value = parse_value("storage", storage, source="IMAGINE_STORAGE")
        settings = replace(settings, storage=value)
    return settings


def set_value(path: Path, key: str, raw: str) -> Any:
    """Check and store one setting in a TOML file; return the stored value. Every comment,
    the order and the layout of the file are kept: a person wrote it."""
    value = parse_value(key, raw, source="")
    document = _editable(path)
    stored = str(value) if isinstance(value, str) else value  # a StrEnum is written as text
    stored = list(stored) if isinstance(stored, tuple) else stored
    if key.startswith("prices."):
        _, model, resolution = key.split(".")
        _table(_table(document, "prices", super_table=True), model)[resolution] = stored
    elif key.startswith("budget."):
        _table(document, "budget")[key.removeprefix("budget.")] = stored
    elif key == "policy" and isinstance(document.get("policy"), Mapping):
        document["policy"]["level"] = stored  # beside the file's [policy.rules]
    elif key in document:
        document[key] = stored
    else:
        document = _with_new_key(document, key, stored)
    _write_toml(path, document)
    return value


def unset_value(path: Path, key: str) -> bool:
    document = _editable(path)
    if key.startswith("prices."):
        _, model, resolution = ([*key.split("."), "", ""])[:3]
        prices = document.get("prices", {})
        row = prices.get(model, {})
        found = resolution in row
        if found:
            del row[resolution]
    elif key.startswith("budget."):
        table = document.get("budget", {})
        found = key.removeprefix("budget.") in table
        if found:
            del table[key.removeprefix("budget.")]
    else:
        found = key in document
        if found:
            del document[key]
    if found:
        _write_toml(path, document)
    return found


def _editable(path: Path) -> Any:
    """The file as tomlkit's document (comments and layout included), or an empty one."""
    import tomlkit

    paths.read_table(path)  # the same checks (and one-line errors) as every read
    try:
        return tomlkit.parse(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return tomlkit.document()


def _with_new_key(document: Any, key: str, value: Any) -> Any:
    """The document with ``key`` after its last top-level setting. (tomlkit would put it just
    above the first table, under the comment that introduces that table.)"""
    import tomlkit
    from tomlkit.items import AoT, Comment, Table

    body = document.body
    first_table = next(
        (i for i, (_, item) in enumerate(body) if isinstance(item, Table | AoT)), len(body)
    )
    settings = [i for i, (name, _) in enumerate(body[:first_table]) if name is not None]
    at = settings[-1] + 1 if settings else first_table
    if not settings and first_table < len(body):
        while at > 0 and isinstance(body[at - 1][1], Comment):  # the table's own comment
            at -= 1
    rebuilt = tomlkit.document()
    rebuilt.parsing(True)  # items keep their own spacing; none is added
    for i, (name, item) in enumerate([*body, (None, None)]):
        if i == at:
            rebuilt.append(key, tomlkit.item(value))
        if item is None:
            break
        if name is None:
            rebuilt.add(item)
        else:
            rebuilt.append(name, item)
    rebuilt.parsing(False)
    return rebuilt


def _table(parent: Any, name: str, *, super_table: bool = False) -> Any:
    import tomlkit

    if name not in parent:
        parent[name] = tomlkit.table(is_super_table=super_table)
    return parent[name]


def _write_toml(path: Path, document: Any) -> None:
    import tomlkit

    text = tomlkit.dumps(document)
    write_atomic(path, (text if text.endswith("\n") or not text else text + "\n").encode())
    paths.forget(path)  # the one reader of config files read it before
