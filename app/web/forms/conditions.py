"""Requirements that depend on other answers (``if``/``then``/``else``,
``dependentRequired``): checked by the validator, told to the person as help text."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from .shape import Unsupported

Hints = dict[str, list[str]]


def condition_hints(
    schema: Mapping[str, Any], shown: frozenset[str], label_of: Callable[[str], str]
) -> Hints:
    """Help text per property for the conditional requirements of an object schema.

    ``shown`` holds the properties the form has an input for (or the server fills); a
    branch that requires or constrains any other property could never be satisfied from
    the form, so it raises ``Unsupported``.
    """
    hints: Hints = {}
    for branch in ("then", "else"):
        _check_branch(schema.get(branch, {}), shown)
    subject = _subject(schema.get("if"))
    if subject is not None and subject[0] in shown:
        prop, value = subject
        when = f"{label_of(prop)} is {_spell(value)}"
        for branch, phrase in (("then", "when"), ("else", "unless")):
            for name in _required(schema.get(branch)):
                hints.setdefault(name, []).append(f"Required {phrase} {when}.")
    dependent = schema.get("dependentRequired", {})
    if isinstance(dependent, dict):
        for trigger, names in dependent.items():
            _check_names(names if isinstance(names, list) else [], shown)
            hint = f"Required when {label_of(trigger)} is filled in."
            for name in _required({"required": names}):
                hints.setdefault(name, []).append(hint)
    return hints


def _check_branch(branch: Any, shown: frozenset[str]) -> None:
    if not isinstance(branch, dict):
        return
    properties = branch.get("properties", {})
    _check_names([*_required(branch), *(properties if isinstance(properties, dict) else [])], shown)


def _check_names(names: list[Any], shown: frozenset[str]) -> None:
    unknown = [name for name in names if name not in shown]
    if unknown:
        raise Unsupported(f"a condition on {unknown[0]!r}, which the form does not show")


def _required(branch: Any) -> list[str]:
    if not isinstance(branch, dict) or not isinstance(branch.get("required"), list):
        return []
    return [name for name in branch["required"] if isinstance(name, str)]


def _subject(condition: Any) -> tuple[str, Any] | None:
    """``(prop, value)`` for ``if: {"properties": {prop: {"const": value}}}``."""
    if not isinstance(condition, dict) or set(condition) - {"properties", "required"}:
        return None
    properties = condition.get("properties")
    if not isinstance(properties, dict) or len(properties) != 1:
        return None
    ((prop, test),) = properties.items()
    if isinstance(test, dict) and "const" in test:
        return prop, test["const"]
    if isinstance(test, dict) and isinstance(test.get("enum"), list) and len(test["enum"]) == 1:
        return prop, test["enum"][0]
    return None


def _spell(value: Any) -> str:
    if isinstance(value, str):
        return f"“{value}”"
    return json.dumps(value)
