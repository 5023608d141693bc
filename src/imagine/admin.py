"""The admin policy file: settings and limits a user's and a project's config cannot override.

``IMAGINE_POLICY_FILE`` names it; otherwise ``/etc/imagine/policy.toml`` where it exists. It may
set any ordinary setting (locked: `config set` and flags cannot change it, user and project
values are ignored), add ``[policy.rules]``, and set what only an admin may:

    allow_edits = false               # no `imagine edit`
    allow_uploads = false             # no local files sent: inputs must be URLs
    allow_models = ["grok-imagine-video"]
    max_resolution = "720p"
    require_consent_for_edits = true  # consent on the command line or at a prompt, never a file's

Every refusal is written to the audit log (never the prompt).
"""

from __future__ import annotations

import getpass
import json
import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imagine.api import contract
from imagine.errors import ConfigError, PolicyError
from imagine.rules import Rule, rules_from_file

if TYPE_CHECKING:
    from imagine.ledger.store import Ledger
    from imagine.spec import RenderSpec

ENV = "IMAGINE_POLICY_FILE"
DEFAULT_FILE = Path("/etc/imagine/policy.toml")
ADMIN_KEYS = (
    "allow_edits",
    "allow_uploads",
    "allow_models",
    "max_resolution",
    "require_consent_for_edits",
)
AUDIT_ACTION = "admin_refused"


@dataclass(frozen=True)
class Admin:
    path: Path
    values: Mapping[str, Any]  # ordinary settings it sets (flat keys, checked): locked
    allow_edits: bool = True
    allow_uploads: bool = True
    allow_models: tuple[str, ...] | None = None
    max_resolution: str | None = None
    require_consent_for_edits: bool = False
    rules: tuple[Rule, ...] = field(default=())

    @property
    def locked(self) -> frozenset[str]:
        """The settings nobody else may change (with the limits on model and resolution)."""
        limits = {"model"} if self.allow_models else set()
        if self.max_resolution:
            limits.add("resolution")
        return frozenset({*self.values, *limits})

    @property
    def label(self) -> str:
        return f"admin file {self.path}"

    def refusal(self, what: str, setting: str) -> AdminRefusal:
        return AdminRefusal(
            f"{what}: not allowed by the admin policy ({setting} in {self.path})",
            hint="ask the administrator who manages that file",
            admin=self,
            setting=setting,
        )

    def check_value(self, key: str, value: Any) -> None:
        """Refuse a value for ``key`` the admin file forbids or has locked to another."""
        if key in self.values and value != self.values[key]:
            raise self.refusal(f"{key} is locked to {_shown(self.values[key])}", key)
        if key == "model" and self.allow_models and value not in self.allow_models:
            allowed = ", ".join(self.allow_models)
            raise self.refusal(f"model {value} is not allowed (allowed: {allowed})", "allow_models")
        if key == "resolution" and self.max_resolution and _above(value, self.max_resolution):
            raise self.refusal(
                f"resolution {value} is above {self.max_resolution}", "max_resolution"
            )

    def check_spec(self, spec: RenderSpec) -> None:
        """Refuse a request the admin file forbids, before anything is recorded or sent."""
        inputs = [(item.kind, item.sent_as, item.source) for item in spec.inputs]
        self.check_request(str(spec.mode), spec.model, spec.resolution, inputs)

    def check_request(
        self,
        mode: str,
        model: str,
        resolution: str | None,
        inputs: Sequence[tuple[str, str, str]],
    ) -> None:
        """``inputs``: each input's kind, how it is sent and what the user gave."""
        if mode == "edit" and not self.allow_edits:
            raise self.refusal("editing videos is turned off", "allow_edits")
        local = [source for kind, sent_as, source in inputs if _is_local(kind, sent_as)]
        if local and not self.allow_uploads:
            raise self.refusal(
                f"sending the local file {local[0]} is turned off (give an https URL)",
                "allow_uploads",
            )
        self.check_value("model", model)
        if resolution:
            self.check_value("resolution", resolution)


class AdminRefusal(PolicyError):
    """Something the admin policy file forbids (exit 5); audited where it is raised."""

    def __init__(self, message: str, *, hint: str, admin: Admin, setting: str) -> None:
        super().__init__(message, hint=hint)
        self.admin = admin
        self.setting = setting


def audit(ledger: Ledger, refusal: AdminRefusal, attempted: str) -> None:
    """Record a refusal in the audit log: who, what and the file; never the prompt."""
    detail = {"admin_file": str(refusal.admin.path), "setting": refusal.setting}
    ledger.add_audit(
        {
            "job_id": "",
            "action": AUDIT_ACTION,
            "actor": actor(),
            "detail": json.dumps({**detail, "attempted": attempted, "refused": refusal.message}),
        }
    )


def actor() -> str:
    return f"{getpass.getuser()}@{socket.gethostname()}"


def _is_local(kind: str, sent_as: str) -> bool:
    return kind != "file_id" and sent_as != "url"


def _above(resolution: Any, limit: str) -> bool:
    order = list(contract.RESOLUTIONS)
    return str(resolution) in order and order.index(str(resolution)) > order.index(limit)


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def admin_file() -> Path | None:
    named = os.environ.get(ENV)
    if named:
        path = Path(named).expanduser()
        if not path.is_file():
            raise ConfigError(f"{ENV} names {path}, which is not a file: fix or unset it")
        return path
    return DEFAULT_FILE if DEFAULT_FILE.is_file() else None


def load() -> Admin | None:
    """The admin policy in force, checked as strictly as any config file, or None."""
    from imagine import config

    path = admin_file()
    if path is None:
        return None
    table = dict(config.read_toml(path))
    own = {key: table.pop(key) for key in ADMIN_KEYS if key in table}
    values = config.checked_values(table, source=str(path))
    return Admin(
        path=path,
        values=values,
        allow_edits=_flag(own, "allow_edits", path, default=True),
        allow_uploads=_flag(own, "allow_uploads", path, default=True),
        allow_models=_models(own.get("allow_models"), path),
        max_resolution=_resolution(own.get("max_resolution"), path),
        require_consent_for_edits=_flag(own, "require_consent_for_edits", path, default=False),
        rules=tuple(rules_from_file(path, "admin file")),
    )


def _flag(own: Mapping[str, Any], key: str, path: Path, *, default: bool) -> bool:
    value = own.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{key} in {path} must be true or false, got {value!r}")
    return value


def _models(value: Any, path: Path) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"allow_models in {path} must be a list of model names")
    models = []
    for name in value:
        model = contract.canonical_model(name)
        if model is None:
            raise ConfigError(
                f"allow_models in {path}: unknown model {name!r} (see `imagine models`)"
            )
        models.append(model)
    return tuple(models)


def _resolution(value: Any, path: Path) -> str | None:
    if value is None:
        return None
    if value not in contract.RESOLUTIONS:
        allowed = ", ".join(contract.RESOLUTIONS)
        raise ConfigError(f"max_resolution in {path} must be one of {allowed}, got {value!r}")
    return str(value)
