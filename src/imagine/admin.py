"""The admin policy file, and the limits on what may be rendered.

``IMAGINE_POLICY_FILE`` names the admin file; otherwise ``/etc/imagine/policy.toml`` where it
exists. It holds ordinary settings, and every one it sets is locked: user and project values are
ignored, and `config set` or a flag that would change it is refused (exit 5, audited). It may
also add ``[policy.rules]``. The limits it usually sets:

    allow_edits = false               # no `imagine edit`
    allow_uploads = false             # no local files sent: inputs must be URLs
    allow_models = ["grok-imagine-video"]
    max_resolution = "720p"
    require_consent_for_edits = true  # consent on the command line or at a prompt, never a file's

(A user or project may set these limits for itself too; then they are not locked.)
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
from imagine.rules import Rule

if TYPE_CHECKING:
    from imagine.config import Settings
    from imagine.ledger.store import Ledger
    from imagine.spec import RenderSpec

ENV = "IMAGINE_POLICY_FILE"
DEFAULT_FILE = Path("/etc/imagine/policy.toml")
AUDIT_ACTION = "admin_refused"


@dataclass(frozen=True)
class Admin:
    path: Path
    values: Mapping[str, Any]  # the settings it sets (flat keys, checked): all locked
    rules: tuple[Rule, ...] = field(default=())

    @property
    def locked(self) -> frozenset[str]:
        return frozenset(self.values)

    def refusal(self, what: str, setting: str) -> AdminRefusal:
        return AdminRefusal(
            f"{what}: not allowed by the admin policy ({setting} in {self.path})",
            hint="ask the administrator who manages that file",
            admin=self,
            setting=setting,
        )


class AdminRefusal(PolicyError):
    """Something the admin policy file forbids (exit 5); audited where it is raised."""

    def __init__(self, message: str, *, hint: str, admin: Admin, setting: str) -> None:
        super().__init__(message, hint=hint)
        self.admin = admin
        self.setting = setting


@dataclass(frozen=True)
class Limits:
    """What the settings in force allow, and who said so (the admin file, or the user's own
    settings) for the refusal's message."""

    settings: Settings
    admin: Admin | None

    def refuse(self, what: str, setting: str) -> PolicyError:
        if self.admin is not None and setting in self.admin.values:
            return self.admin.refusal(what, setting)
        return PolicyError(
            f"{what}: not allowed by {setting} in your settings",
            hint="see `imagine config list`",
        )

    def check_value(self, key: str, value: Any) -> None:
        """Refuse a value for ``key`` the admin file has locked to another, or a limit forbids."""
        if self.admin is not None and key in self.admin.values and value != self.admin.values[key]:
            raise self.admin.refusal(f"{key} is locked to {_shown(self.admin.values[key])}", key)
        allowed = self.settings.allow_models
        if key == "model" and allowed and value not in allowed:
            raise self.refuse(
                f"model {value} is not allowed (allowed: {', '.join(allowed)})", "allow_models"
            )
        limit = self.settings.max_resolution
        if key == "resolution" and limit and _above(value, limit):
            raise self.refuse(f"resolution {value} is above {limit}", "max_resolution")

    def check_spec(self, spec: RenderSpec) -> None:
        """Refuse a request the limits forbid, before anything is recorded or sent."""
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
        if mode == "edit" and not self.settings.allow_edits:
            raise self.refuse("editing videos is turned off", "allow_edits")
        local = [source for kind, sent_as, source in inputs if _is_local(kind, sent_as)]
        if local and not self.settings.allow_uploads:
            raise self.refuse(
                f"sending the local file {local[0]} is turned off (give an https URL)",
                "allow_uploads",
            )
        self.check_value("model", model)
        if resolution:
            self.check_value("resolution", resolution)


def audit(ledger: Ledger, refusal: PolicyError, attempted: str) -> None:
    """Record an admin refusal in the audit log: who, what and the file; never the prompt.
    (A limit the user set for themselves is not the admin's business: not recorded.)"""
    if not isinstance(refusal, AdminRefusal):
        return
    detail = {
        "admin_file": str(refusal.admin.path),
        "setting": refusal.setting,
        "attempted": attempted,
        "refused": refusal.message,
    }
    ledger.add_audit(
        {"job_id": "", "action": AUDIT_ACTION, "actor": actor(), "detail": json.dumps(detail)}
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
    if isinstance(value, tuple | list):
        return ", ".join(map(str, value))
    return str(value)


def admin_file() -> Path | None:
    named = os.environ.get(ENV)
    if named:
        path = Path(named).expanduser()
        if not path.is_file():
            raise ConfigError(f"{ENV} names {path}, which is not a file: fix or unset it")
        return path
    return DEFAULT_FILE if DEFAULT_FILE.is_file() else None
