"""What one command works with: settings, project, ledger, API clients and, with --sim, a simulator.

Built by the CLI, used by the core; nothing here prints.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from imagine import config, credentials, paths
from imagine.admin import Admin
from imagine.api.client import RetryHook, RetryPolicy, XAIClient
from imagine.config import Settings
from imagine.errors import UsageError
from imagine.ledger.store import Ledger
from imagine.project import Project, find_project
from imagine.rules import PolicyLevel, RuleSet, in_force

if TYPE_CHECKING:
    from imagine.sim import Simulator

# Jobs made with --sim record this instead of a loopback URL: the in-process simulator dies with its
# process, and a later `imagine wait` starts a new one on the same state folder to carry them on.
SIM_BASE_URL = "sim:in-process"
SIM_SPEED = 10.0


class Session:
    def __init__(
        self,
        *,
        project_dir: Path | None = None,
        base_url: str | None = None,
        use_sim: bool = False,
        retry: RetryPolicy | None = None,
        on_retry: RetryHook | None = None,
    ) -> None:
        if use_sim and base_url:
            raise UsageError("--sim and --base-url cannot be used together: choose one")
        self._project_dir = project_dir
        self._base_url = base_url
        self.use_sim = use_sim
        self.retry = retry
        self.on_retry = on_retry
        self._sim: Simulator | None = None

    @cached_property
    def project(self) -> Project:
        return find_project(self._project_dir)

    @cached_property
    def settings(self) -> Settings:
        return config.load(self.project.config_file)

    @cached_property
    def admin(self) -> Admin | None:
        """The admin policy file in force, if any (docs/policy.md)."""
        return config.load_admin()

    def rules(self, level: PolicyLevel) -> RuleSet:
        """The prompt rules in force here: shipped, user, project and admin."""
        files = [(paths.config_file(), "user config")]
        if self.project.config_file is not None:
            files.append((self.project.config_file, "project"))
        extra = self.admin.rules if self.admin is not None else ()
        return in_force(level, files, extra)

    @cached_property
    def ledger(self) -> Ledger:
        return Ledger.open()

    @property
    def base_url(self) -> str:
        """Where new jobs go."""
        if self.use_sim:
            return SIM_BASE_URL
        if self._base_url:
            return str(
                config.parse_value(
                    "base_url", self._base_url, source="--base-url or IMAGINE_BASE_URL"
                )
            )
        return self.settings.base_url

    def require_credentials(self, base_url: str | None = None) -> None:
        """Fail before anything is recorded when the key a request would need is missing."""
        if (base_url or self.base_url) != SIM_BASE_URL:
            credentials.require_key()

    def client(self, base_url: str) -> XAIClient:
        if base_url == SIM_BASE_URL:
            simulator = self.simulator()
            return XAIClient(
                simulator.url, simulator.api_key, retry=self.retry, on_retry=self.on_retry
            )
        key = credentials.require_key()
        return XAIClient(base_url, key.value, retry=self.retry, on_retry=self.on_retry)

    def simulator(self) -> Simulator:
        if self._sim is None:
            from imagine.sim import SimConfig, Simulator

            state = SimConfig(speed=SIM_SPEED, state_dir=paths.sim_state_dir())
            self._sim = Simulator(state).start()
        return self._sim

    def close(self) -> None:
        if self._sim is not None:
            self._sim.stop()
            self._sim = None
        if "ledger" in self.__dict__:
            self.ledger.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
