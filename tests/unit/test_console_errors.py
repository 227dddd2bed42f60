"""Service errors reach the page through the catalogs: ``problem_of`` sorts an error into validation, not found,
conflict or permission with the field it names, and ``_problem.html`` shows a Chinese message naming the field and
the reason (the service's English is shown only for a reason the catalog does not know)."""

from __future__ import annotations

import pytest

from touchflow.console.errors import Problem, problem_of
from touchflow.console.i18n import translations
from touchflow.console.templating import environment
from touchflow.domain.errors import FieldError
from touchflow.services.connectors import ConnectorBusy, ConnectorNotFound
from touchflow.services.contacts import ContactNotFound
from touchflow.services.journeys import JourneyError


@pytest.mark.parametrize(("error", "kind", "field", "code"), [
    (FieldError("reason", "say why the journey is archived"), "validation", "reason", "required"),
    (FieldError("user", "disabling your own account is not allowed: ask another administrator"), "conflict",
     "user", "yourself"),
    (ContactNotFound("email:x@y.cn"), "not_found", "contact", "not_found"),
    (ConnectorNotFound("shop"), "not_found", "connector", "not_found"),
    (ConnectorBusy("shop is running"), "conflict", "", ""),
    (JourneyError("journey nurture is archived and cannot be active"), "conflict", "journey", "archived"),
    (JourneyError("email:a@x.cn has no run in nurture that can be paused"), "conflict", "journey", "nothing_to_do"),
    (PermissionError("permission 'users.manage' is needed"), "permission", "", "permission"),
    (FieldError("action", "one of pause, resume"), "validation", "action", "choice"),
])
def test_errors_are_sorted_by_kind_field_and_reason(error: Exception, kind: str, field: str, code: str) -> None:
    found = problem_of(error)
    assert (found.kind, found.field, found.code) == (kind, field, code)


def _shown(problem: Problem, locale: str) -> str:
    return environment().get_template("_problem.html").render(
        {"problem": problem, "_translations": translations(locale)})


def test_a_known_reason_is_shown_in_chinese_naming_the_field() -> None:
    text = _shown(problem_of(FieldError("reason", "say why the journey is archived")), "zh-CN")
    assert "请检查字段“原因”：此项必填" in text and "say why" not in text
    assert 'data-field="reason"' in text and 'data-problem="validation"' in text
    english = _shown(problem_of(FieldError("reason", "say why the journey is archived")), "en")
    assert "Check the field “reason”: it is required" in english


def test_an_unknown_reason_keeps_the_services_words_under_a_chinese_headline() -> None:
    text = _shown(problem_of(FieldError("schedule", "five fields are needed")), "zh-CN")
    assert "请检查字段“schedule”：five fields are needed" in text
