"""Forms: the file that describes them, its mistakes named by key, and
the check of customers' answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lgserver.chat.forms import (
    FormsError,
    InvalidAnswer,
    check_answers,
    load_forms,
    parse_forms,
)
from lgserver.config import ConfigError, load_config

EXAMPLE = Path(__file__).resolve().parents[2] / "conf" / "forms.example.toml"


def test_the_example_file_is_valid() -> None:
    forms = load_forms(EXAMPLE)
    assert [form.name for form in forms] == ["contact", "order"]
    order = forms[1].to_wire()
    assert order["fields"][1] == {
        "name": "plan",
        "label": "Your plan",
        "type": "select",
        "required": False,
        "options": ["Basic", "Pro", "Enterprise"],
    }
    assert "options" not in order["fields"][0]


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({"forms": []}, "forms: unknown key; forms are [[form]] tables"),
        ({"form": {"name": "x"}}, "form: expected [[form]] tables"),
        (
            {"form": [{"name": "a b", "title": "T", "field": []}]},
            "form[1].name: expected 1 to 64 letters, digits, '-' or '_', got 'a b'",
        ),
        (
            {"form": [{"name": "a", "title": "", "field": []}]},
            "form[1].title: expected a non-empty string",
        ),
        (
            {"form": [{"name": "a", "title": "T"}]},
            "form[1].field: expected one [[form.field]] table or more",
        ),
        (
            {"form": [{"name": "a", "title": "T", "colour": 1, "field": []}]},
            "form[1].colour: unknown key",
        ),
        (
            {
                "form": [
                    {
                        "name": "a",
                        "title": "T",
                        "field": [{"name": "f", "label": "F", "type": "date"}],
                    }
                ]
            },
            "form[1].field[1].type: must be one of text, email, number, select, "
            "checkbox, textarea, got 'date'",
        ),
        (
            {
                "form": [
                    {
                        "name": "a",
                        "title": "T",
                        "field": [{"name": "f", "label": "F", "type": "select"}],
                    }
                ]
            },
            "form[1].field[1].options: a select lists 1 to 100 options",
        ),
        (
            {
                "form": [
                    {
                        "name": "a",
                        "title": "T",
                        "field": [
                            {"name": "f", "label": "F", "type": "text", "options": []}
                        ],
                    }
                ]
            },
            "form[1].field[1].options: only a select has options",
        ),
        (
            {
                "form": [
                    {
                        "name": "a",
                        "title": "T",
                        "field": [
                            {"name": "f", "label": "F", "type": "text"},
                            {"name": "f", "label": "G", "type": "text"},
                        ],
                    }
                ]
            },
            "form[1].field[2].name: 'f' is taken already",
        ),
        (
            {
                "form": [
                    {
                        "name": "a",
                        "title": "T",
                        "field": [
                            {
                                "name": "f",
                                "label": "F",
                                "type": "text",
                                "required": "yes",
                            }
                        ],
                    }
                ]
            },
            "form[1].field[1].required: expected true or false",
        ),
    ],
)
def test_mistakes_are_named_by_key(document: dict[str, Any], problem: str) -> None:
    with pytest.raises(FormsError) as failed:
        parse_forms(document)
    assert problem in failed.value.problems


def test_every_mistake_is_reported_and_names_are_unique() -> None:
    field = {"name": "f", "label": "F", "type": "text"}
    with pytest.raises(FormsError) as failed:
        parse_forms(
            {
                "form": [
                    {"name": "a", "title": "T", "field": [field]},
                    {"name": "a", "title": "T", "field": [field]},
                    {"name": "b", "title": 5, "field": [{**field, "type": 1}]},
                ]
            }
        )
    assert failed.value.problems == (
        "form[2].name: 'a' is taken already",
        "form[3].title: expected a non-empty string",
        "form[3].field[1].type: must be one of text, email, number, select, "
        "checkbox, textarea, got 1",
    )


def test_the_configuration_check_reads_the_forms_file(tmp_path: Path) -> None:
    forms = tmp_path / "forms.toml"
    forms.write_text('[[form]]\nname = "a"\ntitle = "T"\n')
    config = tmp_path / "lgserver.toml"
    config.write_text(f'[chat]\nforms_file = "{forms}"\n')
    with pytest.raises(ConfigError) as failed:
        load_config(config, {})
    assert [str(p) for p in failed.value.problems] == [
        f"chat.forms_file: {forms}: form[1].field: expected one [[form.field]] "
        "table or more"
    ]
    with pytest.raises(ConfigError) as failed:
        load_config(None, {"LGSERVER_CHAT_FORMS_FILE": str(tmp_path / "none")})
    assert "LGSERVER_CHAT_FORMS_FILE: " in str(failed.value)
    assert "cannot read" in str(failed.value)
    forms.write_text("[[form]\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(config, {})
    loaded = load_config(None, {"LGSERVER_CHAT_FORMS_FILE": str(EXAMPLE)})
    assert loaded.chat.forms_file == EXAMPLE


def test_answers_are_checked_against_the_form() -> None:
    contact, order = load_forms(EXAMPLE)
    assert check_answers(
        contact,
        {"email": " Ann@Example.ORG ", "phone": "", "callback": False},
    ) == {"email": "Ann@example.org"}
    assert check_answers(
        order, {"number": 12, "plan": "Pro", "details": " late\nand broken "}
    ) == {"number": 12, "plan": "Pro", "details": "late\nand broken"}

    for form, answers, why in (
        (contact, [], "answers must be a map"),
        (contact, {"email": "a@b.example", "age": 3}, "has no field 'age'"),
        (contact, {"phone": "1"}, "'E-mail' must be answered"),
        (contact, {"email": "   "}, "'E-mail' must be answered"),
        (contact, {"email": "nobody"}, "'E-mail': "),
        (contact, {"email": "a@b.example", "callback": "yes"}, "true or false"),
        (contact, {"email": "a@b.example", "phone": 5}, "takes text"),
        (contact, {"email": "a@b.example", "phone": "x" * 501}, "at most 500"),
        (order, {"number": "12"}, "'Order number' takes a number"),
        (order, {"number": True}, "takes a number"),
        (order, {"number": float("nan")}, "takes a number"),
        (order, {"number": 1, "plan": "Gold"}, "not one of its options"),
    ):
        with pytest.raises(InvalidAnswer, match=why):
            check_answers(form, answers)
