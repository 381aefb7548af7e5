"""Forms from JSON Schema: server-rendered inputs for a wait's payload, and back.

``build_form`` reads a draft 2020-12 schema into fields (or, for what no field shows
faithfully, a JSON editor); the macros in ``templates/forms/`` render them;
``parse_submission`` turns the posted form back into a validated payload, and
``encode_values`` does the reverse.
"""

from __future__ import annotations

from .encoding import encode_values
from .field import Field
from .form import SERVER_FIELDS, Form, FormKind, build_form
from .submission import Submission, parse_submission

__all__ = [
    "SERVER_FIELDS",
    "Field",
    "Form",
    "FormKind",
    "Submission",
    "build_form",
    "encode_values",
    "parse_submission",
]
