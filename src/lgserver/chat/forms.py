"""Forms operators push to customers in a chat (``chat.push_form``), and
the check of the answers customers send back (``chat.form_answer``).

The forms are described in a TOML file named by ``chat.forms_file``::

    [[form]]
    name = "contact"
    title = "How can we reach you?"

    [[form.field]]
    name = "email"
    label = "E-mail"
    type = "email"
    required = true

    [[form.field]]
    name = "plan"
    label = "Your plan"
    type = "select"
    options = ["Basic", "Pro"]

A field's ``type`` is one of ``text``, ``email``, ``number``, ``select``,
``checkbox`` and ``textarea``; a ``select`` lists its ``options``, and no
other type has any. The file is read when the configuration is checked
and when lgserver starts; every problem in it is reported, each naming
the key at fault (``form[2].field[1].type``).
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "FIELD_TYPES",
    "Field",
    "Form",
    "FormsError",
    "InvalidAnswer",
    "check_answers",
    "load_forms",
    "parse_forms",
]

#: The kinds of field a form may hold.
FIELD_TYPES = ("text", "email", "number", "select", "checkbox", "textarea")

MAX_FORMS = 100
MAX_FIELDS = 50
MAX_OPTIONS = 100
MAX_LABEL = 200
#: Characters of a text answer; a textarea takes more.
MAX_TEXT = 500
MAX_TEXTAREA = 4000

_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_FORM_KEYS = {"name", "title", "field"}
_FIELD_KEYS = {"name", "label", "type", "options", "required"}


class FormsError(Exception):
    """The forms file cannot be used; :attr:`problems` lists why, one
    entry a problem, each naming the key at fault."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(problems))


class InvalidAnswer(Exception):
    """The answers to a form do not fit it; the text says which field."""


@dataclass(frozen=True, slots=True)
class Field:
    """One field of a form.

    Attributes:
        name: The key of its answer.
        label: What the customer reads beside it.
        type: One of :data:`FIELD_TYPES`.
        options: The choices of a ``select``; empty otherwise.
        required: An answer must hold it (a ``checkbox`` must be ticked).
    """

    name: str
    label: str
    type: str
    options: tuple[str, ...] = ()
    required: bool = False

    def to_wire(self) -> dict[str, Any]:
        """The field as ``chat.form`` and ``forms.list`` carry it."""
        wire: dict[str, Any] = {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "required": self.required,
        }
        if self.type == "select":
            wire["options"] = list(self.options)
        return wire


@dataclass(frozen=True, slots=True)
class Form:
    """A form: a name operators pick it by, a title, its fields."""

    name: str
    title: str
    fields: tuple[Field, ...]

    def to_wire(self) -> dict[str, Any]:
        """The form as ``chat.form`` and ``forms.list`` carry it."""
        return {
            "name": self.name,
            "title": self.title,
            "fields": [field.to_wire() for field in self.fields],
        }


def load_forms(path: Path) -> tuple[Form, ...]:
    """Read the forms file.

    Raises:
        FormsError: The file cannot be read, is not TOML, or describes
            forms wrongly; every problem is listed.
    """
    try:
        document = tomllib.loads(path.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise FormsError([f"{path}: cannot read: {exc.strerror}"]) from None
    except UnicodeDecodeError:
        raise FormsError([f"{path}: not UTF-8 text"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise FormsError([f"{path}: not valid TOML: {exc}"]) from None
    try:
        return parse_forms(document)
    except FormsError as exc:
        raise FormsError([f"{path}: {problem}" for problem in exc.problems]) from None


def parse_forms(document: Mapping[str, Any]) -> tuple[Form, ...]:
    """The forms a parsed TOML document describes.

    Raises:
        FormsError: With every problem found.
    """
    problems: list[str] = []
    for key in document:
        if key != "form":
            problems.append(f"{key}: unknown key; forms are [[form]] tables")
    tables = document.get("form", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise FormsError([*problems, "form: expected [[form]] tables"])
    if len(tables) > MAX_FORMS:
        problems.append(f"form: at most {MAX_FORMS} forms, got {len(tables)}")
    forms: list[Form] = []
    names: set[str] = set()
    for index, table in enumerate(tables, 1):
        form = _parse_form(f"form[{index}]", table, problems)
        if form is None:
            continue
        if form.name in names:
            problems.append(f"form[{index}].name: {form.name!r} is taken already")
        names.add(form.name)
        forms.append(form)
    if problems:
        raise FormsError(problems)
    return tuple(forms)


def _label(where: str, raw: object, problems: list[str]) -> str | None:
    if not isinstance(raw, str) or not raw.strip():
        problems.append(f"{where}: expected a non-empty string")
        return None
    if len(raw) > MAX_LABEL or not raw.isprintable():
        problems.append(
            f"{where}: at most {MAX_LABEL} printable characters on one line"
        )
        return None
    return raw.strip()


def _name(where: str, raw: object, problems: list[str]) -> str | None:
    if not isinstance(raw, str) or not _NAME.fullmatch(raw):
        problems.append(
            f"{where}: expected 1 to 64 letters, digits, '-' or '_', got {raw!r}"
        )
        return None
    return raw


def _parse_form(
    where: str, table: Mapping[str, Any], problems: list[str]
) -> Form | None:
    before = len(problems)
    for key in table:
        if key not in _FORM_KEYS:
            problems.append(f"{where}.{key}: unknown key")
    name = _name(f"{where}.name", table.get("name"), problems)
    title = _label(f"{where}.title", table.get("title"), problems)
    raw_fields = table.get("field")
    fields: list[Field] = []
    if not isinstance(raw_fields, list) or not raw_fields:
        problems.append(f"{where}.field: expected one [[form.field]] table or more")
    elif len(raw_fields) > MAX_FIELDS:
        problems.append(f"{where}.field: at most {MAX_FIELDS} fields")
    else:
        taken: set[str] = set()
        for index, raw in enumerate(raw_fields, 1):
            at = f"{where}.field[{index}]"
            if not isinstance(raw, dict):
                problems.append(f"{at}: expected a table")
                continue
            field = _parse_field(at, raw, problems)
            if field is None:
                continue
            if field.name in taken:
                problems.append(f"{at}.name: {field.name!r} is taken already")
            taken.add(field.name)
            fields.append(field)
    if len(problems) > before or name is None or title is None:
        return None
    return Form(name, title, tuple(fields))


def _parse_field(
    where: str, table: Mapping[str, Any], problems: list[str]
) -> Field | None:
    before = len(problems)
    for key in table:
        if key not in _FIELD_KEYS:
            problems.append(f"{where}.{key}: unknown key")
    name = _name(f"{where}.name", table.get("name"), problems)
    label = _label(f"{where}.label", table.get("label"), problems)
    kind = table.get("type")
    if kind not in FIELD_TYPES:
        listed = ", ".join(FIELD_TYPES)
        problems.append(f"{where}.type: must be one of {listed}, got {kind!r}")
    required = table.get("required", False)
    if not isinstance(required, bool):
        problems.append(f"{where}.required: expected true or false")
    options: list[str] = []
    raw_options = table.get("options")
    if kind == "select":
        if (
            not isinstance(raw_options, list)
            or not raw_options
            or len(raw_options) > MAX_OPTIONS
        ):
            problems.append(
                f"{where}.options: a select lists 1 to {MAX_OPTIONS} options"
            )
        else:
            for index, option in enumerate(raw_options, 1):
                text = _label(f"{where}.options[{index}]", option, problems)
                if text is not None:
                    options.append(text)
            if len(set(options)) != len(options):
                problems.append(f"{where}.options: an option is listed twice")
    elif raw_options is not None:
        problems.append(f"{where}.options: only a select has options")
    if len(problems) > before or name is None or label is None:
        return None
    return Field(name, label, str(kind), tuple(options), bool(required))


def check_answers(form: Form, answers: object) -> dict[str, Any]:
    """The answers a customer sent to ``form``, checked against it.

    Args:
        form: The form pushed to them.
        answers: A map of field name to value: a string for text, email,
            textarea and select (one of its options), a number for
            number, true or false for checkbox.

    Returns:
        The answers, text stripped of surrounding blanks, a field left
        empty or unticked left out.

    Raises:
        InvalidAnswer: A field is unknown, of the wrong type, too long, not
            an option, not an e-mail address, or required and missing.
    """
    # imported here: mail reads the configuration, which reads this module
    from ..mail import InvalidAddress, check_address

    if not isinstance(answers, dict):
        raise InvalidAnswer("answers must be a map of field names to values")
    fields = {field.name: field for field in form.fields}
    for key in answers:
        if key not in fields:
            raise InvalidAnswer(f"form {form.name!r} has no field {key!r}")
    checked: dict[str, Any] = {}
    for field in form.fields:
        value = answers.get(field.name)
        kind = field.type
        if value is None or value == "" or value is False:
            if field.required:
                raise InvalidAnswer(f"{field.label!r} must be answered")
            continue
        if kind == "checkbox":
            if value is not True:
                raise InvalidAnswer(f"{field.label!r} takes true or false")
        elif kind == "number":
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or (isinstance(value, float) and not math.isfinite(value))
            ):
                raise InvalidAnswer(f"{field.label!r} takes a number")
        else:
            if not isinstance(value, str):
                raise InvalidAnswer(f"{field.label!r} takes text")
            limit = MAX_TEXTAREA if kind == "textarea" else MAX_TEXT
            if len(value) > limit:
                raise InvalidAnswer(f"{field.label!r} takes at most {limit} characters")
            value = value.strip()
            if not value:
                if field.required:
                    raise InvalidAnswer(f"{field.label!r} must be answered")
                continue
            if kind == "select" and value not in field.options:
                raise InvalidAnswer(f"{field.label!r} is not one of its options")
            if kind == "email":
                try:
                    value = check_address(value).addr_spec
                except InvalidAddress as exc:
                    raise InvalidAnswer(f"{field.label!r}: {exc}") from None
        checked[field.name] = value
    return checked
