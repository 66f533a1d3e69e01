"""The reason catalogue: every reason a server raises is declared once, with the code it travels under."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import grpc
import pytest

from simmesh.kit import errors, reasons

ROOT = pathlib.Path(__file__).resolve().parents[2]
SOURCES = sorted((ROOT / "services" / "simmesh").rglob("*.py"))
ERROR_CLASSES = {
    cls.__name__: cls for cls in vars(errors).values() if isinstance(cls, type) and issubclass(cls, errors.SimmeshError)
}


def _reason_arguments() -> list[tuple[str, ast.Call, ast.expr]]:
    """(file:line, call, value) of every `reason=` keyword in the server sources."""
    found = []
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call):
                for keyword in node.keywords:
                    if keyword.arg == "reason":
                        found.append((f"{path.relative_to(ROOT)}:{node.lineno}", node, keyword.value))
    return found


def test_every_raised_reason_is_a_declared_name_not_a_literal() -> None:
    literals = [where for where, _, value in _reason_arguments() if isinstance(value, ast.Constant)]
    assert literals == [], f"reasons written as literals (declare them in kit/reasons/): {literals}"
    unknown = [
        f"{where}: {ast.unparse(value)}"
        for where, _, value in _reason_arguments()
        if isinstance(value, ast.Attribute)
        and isinstance(value.value, ast.Name)
        and value.value.id == "reasons"
        and value.attr not in reasons.declared()
    ]
    assert unknown == []


# `reason=` arguments that pass on a reason chosen by their caller (which names a declared one).
PASSED_ON = {"reason", "first.reason", "self.reason", "REASON", "unavailable", "_DB_UNAVAILABLE[self.service]"}


def test_a_reason_that_is_not_a_declared_name_is_only_passed_on() -> None:
    other = [
        f"{where}: {ast.unparse(value)}"
        for where, _, value in _reason_arguments()
        if not (isinstance(value, ast.Attribute) and ast.unparse(value.value) == "reasons")
        and ast.unparse(value) not in PASSED_ON
    ]
    assert other == []


def test_each_raise_site_uses_a_code_its_reason_declares() -> None:
    wrong = []
    for where, call, value in _reason_arguments():
        name = call.func.id if isinstance(call.func, ast.Name) else getattr(call.func, "attr", "")
        declared = reasons.declared().get(getattr(value, "attr", ""))
        if name in ERROR_CLASSES and declared is not None and ERROR_CLASSES[name].code not in declared.codes:
            wrong.append(f"{where}: {name} with {value.attr}")
    assert wrong == []


def test_a_reason_is_declared_under_its_own_name_with_a_known_code() -> None:
    for name, reason in reasons.declared().items():
        assert str(reason) == name
        assert all(isinstance(code, grpc.StatusCode) for code in reason.codes)
        assert reason.code not in (grpc.StatusCode.OK,)


def test_an_error_is_retriable_exactly_when_its_reason_is_declared_so() -> None:
    wrong = []
    for where, call, value in _reason_arguments():
        name = call.func.id if isinstance(call.func, ast.Name) else getattr(call.func, "attr", "")
        reason = reasons.declared().get(getattr(value, "attr", ""))
        single = reason is not None and len(reason.codes) == 1
        if name in ERROR_CLASSES and single and ERROR_CLASSES[name].retriable != reason.retriable:
            wrong.append(f"{where}: {name} with {reason}")
    assert wrong == []
    assert errors.Unavailable("etcd away", reason=reasons.ETCD_UNAVAILABLE).to_status().details


def test_a_declared_reason_compares_equal_to_the_string_clients_see() -> None:
    error = errors.NotFound("collection `collections/a` does not exist", reason=reasons.COLLECTION_NOT_FOUND)
    status = error.to_status()
    assert error.reason == "COLLECTION_NOT_FOUND"
    assert errors.from_status(status).reason == "COLLECTION_NOT_FOUND"


@pytest.mark.parametrize("cls", sorted(ERROR_CLASSES.values(), key=lambda c: c.__name__)[1:])
def test_each_error_class_defaults_to_a_declared_reason_of_its_code(cls: type[errors.SimmeshError]) -> None:
    reason = cls("x").reason
    assert reason in reasons.declared()
    assert cls.code in reasons.declared()[reason].codes


def test_the_reasons_document_for_client_authors_is_current() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "reasons_doc.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
