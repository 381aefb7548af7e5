"""What every view needs from the application: executor, settings, templates."""

from __future__ import annotations

from dataclasses import dataclass, field

from jinja2_fragments.starlette import Jinja2Blocks
from starlette.requests import Request

from app.engine import Stent
from app.settings import Settings

from .waits import WaitCache


@dataclass(frozen=True)
class Desk:
    """The objects ``create_app`` wires together, reachable from any request."""

    settings: Settings
    executor: Stent
    templates: Jinja2Blocks
    workflows: tuple[str, ...]  # registered names of the workflows people may start
    waits: WaitCache = field(default_factory=WaitCache)  # definitions of waits shown


def desk(request: Request) -> Desk:
    """The application's ``Desk``."""
    found: Desk = request.app.state.desk
    return found
