"""Durable workflows for ``bench.py``; module-level so that they register by qualified name."""

from __future__ import annotations

from typing import Any

from app.engine import Stent


@Stent.durable
async def wait_go() -> Any:
    """Wait for one ``go`` signal, then finish with its payload."""
    return await Stent.wait_for_signal("go")
