"""Example workflows: the signal document's patterns as durable workflows.

Each module holds one workflow, its signal names as constants and their payload
schemas (JSON Schema dicts with titles and descriptions, so the dashboard can render a
form for every open wait). The activities they share live in ``workflows.activities``.
Import a module to register its workflows with the executor.
"""

from __future__ import annotations

EXAMPLE_MODULES: list[str] = [
    "workflows.approval",
    "workflows.purchase_approval",
    "workflows.multi_step_approval",
    "workflows.order_fulfillment",
    "workflows.approval_with_timeout",
    "workflows.webhook_processor",
]
