"""Media inspection and synthesis: probing inputs and outputs, posters, and clips for the simulator.

PyAV (the ``media`` extra) is imported lazily, inside the functions that need it, so that importing
this package, and everything that imports it, stays fast and works without the extra installed.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from imagine.errors import MediaError

INSTALL_HINT = "pip install 'imagine[media]'"


def have_av() -> bool:
    """Whether PyAV can be imported (without importing it)."""
    return importlib.util.find_spec("av") is not None


def require_av(purpose: str) -> Any:
    """The ``av`` module, or a MediaError naming what needed it and how to install it."""
    if not have_av():
        raise MediaError(f"{purpose} needs the media extra: {INSTALL_HINT}")
    return importlib.import_module("av")
