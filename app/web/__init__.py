"""Stent Desk's web dashboard: a Starlette app running the executor in-process."""

from __future__ import annotations

from .app import create_app

__all__ = ["create_app"]
