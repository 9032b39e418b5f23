"""No secret reaches an Azure error's text, and short secrets do not garble it."""

from __future__ import annotations

from s2s_agent.act.azure_errors import WITHHELD, _redact

MESSAGE = "AADSTS7000215: Invalid client secret provided in the request for app abc."


def test_long_secret_is_replaced_and_the_rest_kept():
    secret = "Zq8~kL3pVt9.nB2mXr7yWc5sHd1fGj4uAe6oPi0"
    out = _redact(f"{MESSAGE} secret={secret}", [secret])
    assert secret not in out
    assert out == f"{MESSAGE} secret=***"


def test_short_secret_withholds_the_message_instead_of_garbling_it():
    out = _redact(MESSAGE, ["in"])
    assert (
        out == WITHHELD
    )  # the old code returned "AADSTS7000215: Invalid client secret provided ***..."


def test_short_secret_absent_leaves_the_message_alone():
    assert _redact(MESSAGE, ["qqq"]) == MESSAGE


def test_empty_secrets_are_ignored():
    assert _redact(MESSAGE, ["", ""]) == MESSAGE
