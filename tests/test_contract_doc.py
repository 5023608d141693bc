"""docs/xai-api.md is the project's account of the REST contract: the code cites it, and its numbers
are the ones the client and the simulator use."""

from __future__ import annotations

import re
from pathlib import Path

from imagine.api import contract
from imagine.money import pricing

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "xai-api.md").read_text()


def test_the_code_cites_the_contract_in_the_repository() -> None:
    sources = [path for path in (ROOT / "src").rglob("*.py") if "xai-api.md" in path.read_text()]
    assert len(sources) >= 4
    assert not [
        path for path in (ROOT / "src").rglob("*.py") if "xai-video-api.md" in path.read_text()
    ]


def test_the_price_table_is_the_one_the_client_estimates_with() -> None:
    rows = re.findall(r"^\| (grok-imagine-video[\w.-]*) \| (.+) \|$", DOC, re.MULTILINE)
    table = {}
    for model, cells in rows:
        prices = [cell.strip() for cell in cells.split("|")]
        if all(re.fullmatch(r"[\d.]+|—", price) for price in prices):
            table[model] = {
                resolution: float(price)
                for resolution, price in zip(contract.RESOLUTIONS, prices, strict=True)
                if price != "—"
            }
    assert table == pricing.DEFAULT_PRICES


def test_the_limits_stated_are_the_ones_enforced() -> None:
    low, high = contract.EXTENSION_INPUT_SECONDS
    assert f"input {low:g}–{high:g} s" in DOC
    assert f"at most {contract.MAX_REFERENCE_IMAGES}" in DOC
    assert f"input at most {contract.MAX_EDIT_INPUT_SECONDS:g} s" in DOC
    assert f"default {contract.EXTENSION_DEFAULT_DURATION}, 1–{contract.MAX_DURATION}" in DOC
    for message in (contract.MSG_DURATION, contract.MSG_MALFORMED_ID, contract.MSG_EDIT_MODEL):
        assert message in DOC
