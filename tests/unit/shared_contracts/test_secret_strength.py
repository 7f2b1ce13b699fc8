"""One rule for every configured secret: placeholders, short ones and one character repeated are refused,
and the refusal never repeats the secret. Ingest applies it to its token at start-up."""

from __future__ import annotations

import pytest

from services.ingest.main import main as ingest_main
from services.ingest.settings import IngestSettings
from shared.contracts.secret_strength import secret_problem


@pytest.mark.parametrize(
    ("secret", "words"),
    [
        ("change-me-ingest-token", "placeholder"),
        ("Change-Me-Please-0123456789abcdef", "placeholder"),
        ("short-but-random", "fewer than 24"),
        ("x" * 40, "one character repeated"),
    ],
)
def test_weak_secrets_are_refused_in_words_that_do_not_repeat_them(secret: str, words: str) -> None:
    problem = secret_problem(secret, min_length=24)
    assert problem is not None and words in problem
    assert secret not in problem


def test_a_random_secret_passes() -> None:
    assert secret_problem("k3J9fQ2xV7mP0tR5wY8zB1nC4", min_length=24) is None


@pytest.mark.parametrize("token", ["change-me-ingest-token", "bench"])
def test_ingest_refuses_to_start_with_a_weak_token(token: str) -> None:
    problem = IngestSettings(ingest_token=token).token_problem()  # type: ignore[arg-type]
    assert problem is not None and problem.startswith("AIFACTORY_INGEST_TOKEN") and token not in problem
    with pytest.raises(SystemExit, match="ingest: refusing to start: AIFACTORY_INGEST_TOKEN") as refused:
        ingest_main(IngestSettings(ingest_token=token))  # type: ignore[arg-type]
    assert token not in str(refused.value)
