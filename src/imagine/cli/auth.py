"""`imagine auth set|status|remove`: the API key, stored with mode 0600; XAI_API_KEY wins."""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated

import typer

from imagine import credentials as keys
from imagine.api.client import XAIClient
from imagine.cli import options as opt
from imagine.cli import output
from imagine.cli.helptext import ImagineCommand
from imagine.errors import AuthError
from imagine.session import Session

app = typer.Typer(help="Store, check or remove the xAI API key.", no_args_is_help=True)


@app.command("set", cls=ImagineCommand)
def set_key() -> None:
    """Store an API key (asked for without echo; or piped on stdin).

    The key never goes on the command line, where shell history would keep it.
    Example: imagine auth set   (or: printenv MY_KEY | imagine auth set)
    """
    value = output.ask_secret("xAI API key") if sys.stdin.isatty() else sys.stdin.readline()
    path = keys.save_key(value)
    output.message(f"saved key {keys.redact(value.strip())} to {path} (mode 0600)")
    current = keys.find_key()
    if current is not None and current.source == "env":
        output.warn("XAI_API_KEY is set in this environment and wins over the stored key")


@app.command("status", cls=ImagineCommand)
def status(
    offline: Annotated[bool, typer.Option("--offline", help="Do not ask the API.")] = False,
    base_url: opt.BaseUrl = None,
    sim: opt.Sim = False,
) -> None:
    """Show which key is in use and check it with the API.

    Example: imagine auth status
    """
    with Session(base_url=base_url, use_sim=sim) as session:
        if sim:
            client = session.client(session.base_url)
            where = "the in-process simulator's key"
        else:
            key = keys.require_key()
            where = "XAI_API_KEY" if key.source == "env" else key.source
            output.data(f"key {key.redacted} from {where}")
            if offline:
                return
            client = XAIClient(session.base_url, key.value, retry=session.retry)
        info = asyncio.run(_check(client))
    blocked = [
        flag for flag in ("api_key_blocked", "api_key_disabled", "team_blocked") if info.get(flag)
    ]
    name = info.get("name") or info.get("api_key_id") or "?"
    output.data(
        f"valid: {name} (team {info.get('team_id', '?')})" if not sim else f"valid: {where}"
    )
    if blocked:
        raise AuthError(f"the API reports this key as {', '.join(blocked)}")


async def _check(client: XAIClient) -> dict[str, object]:
    async with client:
        return await client.api_key_info()


@app.command("remove", cls=ImagineCommand)
def remove() -> None:
    """Delete the stored key.

    Example: imagine auth remove
    """
    path = keys.remove_key()
    output.message(f"removed {path}" if path else "no stored key")
