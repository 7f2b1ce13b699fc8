"""An API problem (RFC 9457) as the one line the CLI prints."""

from __future__ import annotations

import pytest
import typer

from services.cli.connection import fail, problem_line
from shared.client.gateway import GatewayError


def test_each_field_is_named_with_what_is_wrong() -> None:
    problem = {
        "title": "Invalid input",
        "detail": "currency: 'XYZ' is not an ISO 4217 currency code",
        "errors": [
            {"field": "currency", "in": "body", "message": "'XYZ' is not an ISO 4217 currency code"},
            {"field": "from", "in": "query", "message": "Input should be a valid date"},
        ],
    }
    assert problem_line(GatewayError(422, problem)) == (
        "currency: 'XYZ' is not an ISO 4217 currency code; query.from: Input should be a valid date"
    )


def test_without_fields_the_detail_then_the_title_then_the_status() -> None:
    assert problem_line(GatewayError(404, {"title": "Not found", "detail": "project p not found"})) == (
        "project p not found"
    )
    assert problem_line(GatewayError(502, {"title": "Bad gateway", "detail": ""})) == "Bad gateway"
    assert problem_line(GatewayError(500, {"detail": "line one\n  line two"})) == "line one line two"
    assert problem_line(GatewayError(503, {})) == "the gateway answered 503"


def test_fail_prints_one_line_on_stderr_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(typer.Exit) as exited:
        fail("currency: bad")
    assert exited.value.exit_code == 1
    assert capsys.readouterr().err == "error: currency: bad\n"
