"""Every schema of the official JSON Schema Test Suite (draft 2020-12) renders, and every
case's data, posted through the form, is accepted exactly when the suite says it is valid.

The data goes through the fields when ``encode_values`` can express it, else through the
JSON editor: either way the answer must equal the data, so nothing is lost or coerced.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from html_helpers import assert_well_formed, render
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource

from app.web.forms import build_form, encode_values, parse_submission

SUITE = Path("/work/shared/data/json-schema-test-suite/draft2020-12")
# The suite's remote documents (http://localhost:1234/...) are served from its remotes/
# directory; this copy has none, so the cases that load one are skipped. Schemas that only
# use such a URL as their own $id resolve without any remote and stay in.
REMOTES = SUITE.parent / "remotes"
FILES = sorted(SUITE.glob("*.json"))


def _loads_remote(schema: Any, data: Any) -> bool:
    """Whether validating ``data`` makes the validator fetch a localhost:1234 document."""
    asked: list[str] = []

    def retrieve(uri: str) -> Resource[Any]:
        asked.append(uri)
        raise NoSuchResource(ref=uri)

    try:
        Draft202012Validator(schema, registry=Registry(retrieve=retrieve)).is_valid(data)
    except Exception:  # an unresolvable reference: what we are looking for
        pass
    return any(uri.startswith("http://localhost:1234/") for uri in asked)


def _applicable(schema: Any) -> bool:
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError:
        return False
    return True


def _same(left: Any, right: Any) -> bool:
    return json.dumps(left, sort_keys=True) == json.dumps(right, sort_keys=True)


def _post(form: Any, data: Any) -> tuple[dict[str, list[str]], str]:
    values = encode_values(form, data)
    if values is None:
        return {"_mode": ["json"], "_json": [json.dumps(data)]}, "json"
    return values, "fields"


@pytest.mark.skipif(not SUITE.is_dir(), reason="the JSON Schema Test Suite is not on this machine")
@pytest.mark.parametrize("path", FILES, ids=[path.stem for path in FILES])
def test_every_case_is_accepted_exactly_when_valid(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="app.web.forms")
    mismatches = []
    for group in json.loads(path.read_text()):
        form = build_form(group["schema"], server_fields=frozenset())
        assert_well_formed(render(form))
        if not _applicable(group["schema"]):
            # Python's re lacks ECMA-262's \p{Letter}: jsonschema cannot apply the schema
            # (and the engine refuses it when a workflow declares it). The form still
            # answers with an error, never an exception.
            assert form.kind == "json"
            for case in group["tests"]:
                submission = parse_submission(form, _post(form, case["data"])[0], server_values={})
                assert submission.errors and not submission.valid
            continue
        for case in group["tests"]:
            if not REMOTES.is_dir() and _loads_remote(group["schema"], case["data"]):
                continue
            values, route = _post(form, case["data"])
            submission = parse_submission(form, values, server_values={})
            accepted = (
                not submission.errors
                and submission.valid
                and _same(submission.payload, case["data"])
            )
            if accepted != case["valid"]:
                mismatches.append(
                    (group["description"], case["description"], route, form.kind, submission.errors)
                )
            if route == "fields":
                assert_well_formed(render(form, values, submission.errors))
    assert not mismatches, "\n".join(map(repr, mismatches))
    assert not [r for r in caplog.records if r.name.startswith("app.web.forms")]
