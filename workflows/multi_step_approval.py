"""Multi-step approval: legal, then finance, then the executives review a document."""

from __future__ import annotations

from typing import Any

from app.engine import Result, Stent
from workflows.activities import log_approval_stage, notify_stage_reviewers

LEGAL_REVIEW_COMPLETE = "legal_review_complete"
FINANCE_REVIEW_COMPLETE = "finance_review_complete"
EXECUTIVE_APPROVAL_COMPLETE = "executive_approval_complete"

STAGES = ["legal_review", "finance_review", "executive_approval"]

STAGE_SCHEMA: dict[str, Any] = {
    "title": "Stage decision",
    "description": "Pass the document on to the next stage, or reject it.",
    "type": "object",
    "properties": {
        "approved": {
            "type": "boolean",
            "title": "Approve",
            "description": "True passes the document on; false stops the approval.",
        },
        "reviewer": {
            "type": "string",
            "title": "Reviewer",
            "description": "Email address of the reviewer deciding.",
        },
        "reason": {
            "type": ["string", "null"],
            "title": "Reason",
            "description": "Why the document is rejected (required when rejecting).",
        },
    },
    "required": ["approved"],
    "if": {"properties": {"approved": {"const": False}}, "required": ["approved"]},
    "then": {
        "required": ["reason"],
        "properties": {"reason": {"type": "string", "minLength": 1}},
    },
}

STAGE_TITLES = {
    "legal_review": "Legal review",
    "finance_review": "Finance review",
    "executive_approval": "Executive approval",
}


@Stent.durable(
    signals={
        LEGAL_REVIEW_COMPLETE: STAGE_SCHEMA,
        FINANCE_REVIEW_COMPLETE: STAGE_SCHEMA,
        EXECUTIVE_APPROVAL_COMPLETE: STAGE_SCHEMA,
    }
)
async def multi_step_approval(document: dict[str, Any]) -> Result[str, str]:
    """Take ``document`` through every stage; Error at the first stage that rejects it."""
    stages = STAGES

    for stage in stages:
        await notify_stage_reviewers(document["id"], stage)

        response = await Stent.wait_for_signal(
            f"{stage}_complete",
            schema=STAGE_SCHEMA,
            title=f"{STAGE_TITLES[stage]} of document {document['id']}",
        )

        if not response["approved"]:
            return Result.Error(f"Rejected at {stage}: {response['reason']}")

        await log_approval_stage(document["id"], stage, response)

    return Result.Ok(f"Document {document['id']} fully approved")
