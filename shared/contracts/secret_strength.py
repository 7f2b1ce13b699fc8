"""One rule for every secret an operator configures (the operator key, the metering API key, the ingest
token): not a placeholder published with aifactory's examples, long enough, not one character repeated.
The services refuse to start with a secret that breaks it; the message never repeats the secret."""

from __future__ import annotations

GENERATE = "generate one with: openssl rand -hex 32"
# Placeholders this repository or its examples could suggest: whoever read them knows them.
PLACEHOLDERS = frozenset(
    {
        "change-me-operator-key", "change-me-ingest-token", "change-me-metering-api-key", "change-me",
        "changeme", "operator-key", "metering-api-key", "secret", "placeholder",
    }
)  # fmt: skip


def secret_problem(secret: str, *, min_length: int) -> str | None:
    """What is wrong with `secret` (None: nothing), in words that never repeat it."""
    lowered = secret.strip().lower()
    if lowered in PLACEHOLDERS or "change-me" in lowered or "changeme" in lowered:
        return f"is a placeholder published with aifactory's examples; {GENERATE}"
    if len(secret) < min_length:
        return f"has {len(secret)} characters, fewer than {min_length}; {GENERATE}"
    if len(set(secret)) == 1:
        return f"is one character repeated; {GENERATE}"
    return None
