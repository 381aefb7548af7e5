"""Validating signal payloads against JSON Schemas, with errors keyed by field path."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator

from .errors import SignalValidationError


class PayloadValidator:
    """A compiled draft 2020-12 validator that reports every error by field."""

    def __init__(self, schema: dict[str, Any] | bool) -> None:
        self._validator = Draft202012Validator(schema)

    def check(self, payload: Any) -> None:
        """Raise ``SignalValidationError`` listing every problem, or return quietly."""
        errors: dict[str, list[str]] = {}
        for error in self._validator.iter_errors(payload):
            path = "/".join(str(part) for part in error.absolute_path)
            errors.setdefault(path, []).append(error.message)
        if errors:
            summary = "; ".join(
                f"{path or '(payload)'}: {', '.join(messages)}"
                for path, messages in sorted(errors.items())
            )
            raise SignalValidationError(f"invalid signal payload: {summary}", errors)


@lru_cache(maxsize=256)
def _compiled(schema_text: str) -> PayloadValidator:
    return PayloadValidator(json.loads(schema_text))


def validator_for_text(schema_text: str) -> PayloadValidator:
    """A cached validator for a schema stored as JSON text (no re-encoding per check)."""
    return _compiled(schema_text)
