"""Signal schemas declared as dicts, dataclasses, TypedDicts or pydantic models."""

from __future__ import annotations

import datetime
import enum
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, NotRequired, Optional, Required, TypedDict

import pytest
from jsonschema import Draft202012Validator

from app.engine.schemas import to_json_schema


def _schema(spec: object) -> dict[str, Any]:
    schema = to_json_schema(spec)
    assert schema is not None
    Draft202012Validator.check_schema(schema)
    return schema


def _accepts(schema: dict[str, Any], payload: object) -> bool:
    return Draft202012Validator(schema).is_valid(payload)


def _field(spec: object, name: str) -> dict[str, Any]:
    prop: dict[str, Any] = _schema(spec)["properties"][name]
    return prop


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Priority(enum.IntEnum):
    LOW = 1
    HIGH = 2


@dataclass
class Approval:
    approved: bool
    comment: str = field(default="", metadata={"description": "Why, in the approver's words"})
    amount: float = 0.0
    tags: list[str] = field(default_factory=list)


@dataclass
class Address:
    street: str
    zip_code: str


@dataclass
class Order:
    order_id: int
    address: Address
    items: list[int]
    note: str | None = None


@dataclass
class Everything:
    text: str
    count: int
    ratio: float
    flag: bool
    nothing: None
    maybe_count: Optional[int]  # noqa: UP045 - the typing spelling is what this covers
    maybe_text: str | None
    tags: set[str]
    pair: tuple[int, ...]
    point: tuple[int, str]
    prices: dict[str, float]
    mode: Literal["fast", "slow"]
    color: Color
    priority: Priority
    when: datetime.datetime
    day: datetime.date
    extra: Any
    labelled: Annotated[int, "a label"]
    bare_list: list  # type: ignore[type-arg]


@dataclass
class WithDefaults:
    color: Color = Color.GREEN
    window: tuple[int, int] = (1, 2)
    options: dict[str, int] = field(default_factory=lambda: {"retries": 3})
    when: datetime.date = datetime.date(2024, 1, 1)
    ratio: float = float("nan")


class Review(TypedDict):
    decision: Literal["approve", "reject"]
    reviewer: str
    comment: NotRequired[str]


class Optionals(TypedDict, total=False):
    note: str
    order: Order


class Unsupported(TypedDict):
    blob: bytes


@dataclass
class Node:
    value: int
    child: Node | None = None


@dataclass
class IntKeys:
    counts: dict[int, str]


class FakePydanticModel:
    """Stands in for a pydantic model: only ``model_json_schema`` matters."""

    @classmethod
    def model_json_schema(cls) -> dict[str, Any]:
        return {"type": "object", "title": "FakePydanticModel", "properties": {}}


class BrokenPydanticModel:
    @classmethod
    def model_json_schema(cls) -> str:
        return "not a schema"


def test_no_schema_means_none() -> None:
    assert to_json_schema(None) is None


def test_a_schema_dict_is_returned_as_is() -> None:
    schema = {"type": "object", "properties": {"approved": {"type": "boolean"}}}
    assert to_json_schema(schema) is schema


def test_an_invalid_schema_dict_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="invalid JSON Schema"):
        to_json_schema({"type": "no-such-type"})


def test_a_dataclass_becomes_an_object_schema() -> None:
    assert _schema(Approval) == {
        "type": "object",
        "title": "Approval",
        "properties": {
            "approved": {"type": "boolean"},
            "comment": {
                "type": "string",
                "description": "Why, in the approver's words",
                "default": "",
            },
            "amount": {"type": "number", "default": 0.0},
            "tags": {"type": "array", "items": {"type": "string"}, "default": []},
        },
        "required": ["approved"],
        "additionalProperties": True,
    }


def test_a_dataclass_schema_accepts_valid_payloads_and_rejects_invalid_ones() -> None:
    schema = _schema(Approval)
    assert _accepts(schema, {"approved": True})
    assert _accepts(schema, {"approved": False, "comment": "too pricey", "tags": ["q3"]})
    assert _accepts(schema, {"approved": True, "unknown": 1})
    assert not _accepts(schema, {})
    assert not _accepts(schema, {"approved": "yes"})
    assert not _accepts(schema, {"approved": True, "tags": [1]})
    assert not _accepts(schema, ["approved"])


def test_a_typeddict_becomes_an_object_schema_with_its_required_keys() -> None:
    schema = _schema(Review)
    assert schema["title"] == "Review"
    assert schema["additionalProperties"] is True
    assert set(schema["required"]) == {"decision", "reviewer"}
    assert schema["properties"] == {
        "decision": {"enum": ["approve", "reject"]},
        "reviewer": {"type": "string"},
        "comment": {"type": "string"},
    }
    assert _accepts(schema, {"decision": "approve", "reviewer": "ann"})
    assert _accepts(schema, {"decision": "reject", "reviewer": "bob", "comment": "no"})
    assert not _accepts(schema, {"decision": "maybe", "reviewer": "ann"})
    assert not _accepts(schema, {"decision": "approve"})


def test_a_total_false_typeddict_requires_nothing() -> None:
    schema = _schema(Optionals)
    assert schema["required"] == []
    assert _accepts(schema, {})


def test_a_pydantic_model_gives_its_own_json_schema() -> None:
    assert to_json_schema(FakePydanticModel) == FakePydanticModel.model_json_schema()


def test_a_pydantic_model_whose_schema_is_not_a_dict_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="did not return a dict"):
        to_json_schema(BrokenPydanticModel)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("text", {"type": "string"}),
        ("count", {"type": "integer"}),
        ("ratio", {"type": "number"}),
        ("flag", {"type": "boolean"}),
        ("nothing", {"type": "null"}),
        ("maybe_count", {"anyOf": [{"type": "integer"}, {"type": "null"}]}),
        ("maybe_text", {"anyOf": [{"type": "string"}, {"type": "null"}]}),
        ("tags", {"type": "array", "uniqueItems": True, "items": {"type": "string"}}),
        ("pair", {"type": "array", "items": {"type": "integer"}}),
        (
            "point",
            {
                "type": "array",
                "prefixItems": [{"type": "integer"}, {"type": "string"}],
                "items": False,
                "minItems": 2,
            },
        ),
        ("prices", {"type": "object", "additionalProperties": {"type": "number"}}),
        ("mode", {"enum": ["fast", "slow"]}),
        ("color", {"title": "Color", "enum": ["red", "green"]}),
        ("priority", {"title": "Priority", "enum": [1, 2]}),
        ("when", {"type": "string", "format": "date-time"}),
        ("day", {"type": "string", "format": "date"}),
        ("extra", {}),
        ("labelled", {"type": "integer"}),
        ("bare_list", {"type": "array"}),
    ],
)
def test_python_types_map_to_json_schema(name: str, expected: dict[str, Any]) -> None:
    assert _field(Everything, name) == expected


@pytest.mark.parametrize(
    ("name", "valid", "invalid"),
    [
        ("count", 3, 3.5),
        ("ratio", 3, "3"),
        ("flag", False, 0),
        ("nothing", None, 0),
        ("maybe_count", None, "1"),
        ("maybe_text", "x", 1),
        ("tags", ["a", "b"], ["a", "a"]),
        ("pair", [1, 2, 3], [1, "2"]),
        ("point", [1, "a"], [1, "a", 2]),
        ("prices", {"tea": 1.5}, {"tea": "cheap"}),
        ("mode", "fast", "medium"),
        ("color", "red", "RED"),
        ("priority", 2, 3),
        ("when", "2024-05-01T12:00:00Z", 20240501),
        ("day", "2024-05-01", None),
    ],
)
def test_field_schemas_accept_valid_values_and_reject_invalid_ones(
    name: str, valid: object, invalid: object
) -> None:
    prop = _field(Everything, name)
    assert _accepts(prop, valid)
    assert not _accepts(prop, invalid)


def test_a_nested_dataclass_becomes_a_nested_object() -> None:
    schema = _schema(Order)
    address = schema["properties"]["address"]
    assert address["type"] == "object"
    assert address["title"] == "Address"
    assert address["required"] == ["street", "zip_code"]
    assert schema["properties"]["note"] == {
        "anyOf": [{"type": "string"}, {"type": "null"}],
        "default": None,
    }
    good = {"order_id": 7, "address": {"street": "Main 1", "zip_code": "123"}, "items": [1]}
    assert _accepts(schema, good)
    assert not _accepts(schema, {**good, "address": {"street": "Main 1"}})
    assert not _accepts(schema, {**good, "address": "Main 1"})


def test_a_nested_dataclass_in_a_typeddict_becomes_a_nested_object() -> None:
    order = _field(Optionals, "order")
    assert order["title"] == "Order"
    assert order["properties"]["address"]["title"] == "Address"


def test_json_defaults_are_kept_and_others_left_out() -> None:
    props = _schema(WithDefaults)["properties"]
    assert props["color"]["default"] == "green"
    assert props["window"]["default"] == [1, 2]
    assert props["options"]["default"] == {"retries": 3}
    assert "default" not in props["when"]
    assert "default" not in props["ratio"]


@pytest.mark.parametrize(
    "spec", [str, int, 42, "schema", [1], Approval(approved=True), Color, Node]
)
def test_an_unsupported_spec_is_a_type_error(spec: object) -> None:
    with pytest.raises(TypeError):
        to_json_schema(spec)


def test_an_unsupported_field_type_is_a_type_error_naming_it() -> None:
    with pytest.raises(TypeError, match="bytes"):
        to_json_schema(Unsupported)


def test_a_recursive_dataclass_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="recursive type Node"):
        to_json_schema(Node)


def test_a_dict_with_non_str_keys_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="keys must be str"):
        to_json_schema(IntKeys)


class RequiredInOptional(TypedDict, total=False):
    must: Required[int]
    may: int


def test_required_and_not_required_marks_override_a_typeddicts_totality() -> None:
    assert _schema(RequiredInOptional)["required"] == ["must"]
    assert _schema(Review)["required"] == ["decision", "reviewer"]
