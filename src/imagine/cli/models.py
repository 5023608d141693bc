"""`imagine models`: the video models the API offers, with our price table."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from imagine.api.types import ModelInfo
from imagine.cli import options as opt
from imagine.cli import output
from imagine.session import Session


def models(
    json_output: Annotated[bool, typer.Option("--json", help="One JSON object per model.")] = False,
    base_url: opt.BaseUrl = None,
    sim: opt.Sim = False,
) -> None:
    """List the video models your key can use, with the prices used for estimates.

    Example: imagine models
    """
    with Session(base_url=base_url, use_sim=sim) as session:
        session.require_credentials()
        found = asyncio.run(_fetch(session))
        prices = session.settings.prices
    for model in found:
        row = dict(prices.get(model.id, {}))
        if json_output:
            output.json_line({**model.raw, "imagine_prices_usd_per_second": row})
            continue
        price = "  ".join(f"{res} ${usd:.2f}/s" for res, usd in row.items()) or "price unknown"
        aliases = f" (aliases: {', '.join(model.aliases)})" if model.aliases else ""
        output.data(f"{model.id}{aliases}")
        output.data(f"    inputs: {', '.join(model.input_modalities) or '?'}   {price}")


async def _fetch(session: Session) -> list[ModelInfo]:
    async with session.client(session.base_url) as client:
        return await client.models()
