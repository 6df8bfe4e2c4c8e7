"""rtproto.redact: known secret values and the pattern rules, in one place."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from rtproto import redact as redact_module
from rtproto import transcript
from rtproto.redact import REDACTED, Secrets, redact, redact_text

API_KEY = "sk-proj-Zx81QmPq4JrT0vWc9yLk2NbH7sDfG3aE5uI6oP1lKj8hGf_-Ab12Cd34Ef56Gh78Ij90KlMnOpQrStUvWxYz0123"
MCP_TOKEN = "tok42"  # matches no pattern: only the known value can catch it
ODD_PASSWORD = 'p@ss "w0rd"/ü'


def test_transcript_re_exports_the_one_redactor():
    assert transcript.redact is redact_module.redact
    assert transcript.redact_text is redact_module.redact_text
    assert transcript.REDACTED == REDACTED == "[redacted]"


def test_known_values_are_replaced_wherever_they_occur():
    secrets = Secrets([MCP_TOKEN, None, ""])
    assert secrets.text("token tok42, glued xtok42y, twice tok42tok42") == (
        f"token {REDACTED}, glued x{REDACTED}y, twice {REDACTED}{REDACTED}")
    assert secrets.text(f"and a pattern: {API_KEY}") == f"and a pattern: {REDACTED}"


def test_short_values_are_replaced_only_as_whole_tokens():
    secrets = Secrets(["ab7"])
    assert secrets.text("ab7 (ab7) x=ab7; cab7 ab7c ab77") == f"{REDACTED} ({REDACTED}) x={REDACTED}; cab7 ab7c ab77"


def test_percent_encoded_and_json_escaped_forms_are_known_too():
    secrets = Secrets([ODD_PASSWORD])
    escaped = json.dumps(ODD_PASSWORD)[1:-1]  # \" and \u00fc
    for form in (ODD_PASSWORD, quote(ODD_PASSWORD, safe=""), escaped):
        assert secrets.text(f"<{form}>") == f"<{REDACTED}>", form


def test_the_longest_value_wins_over_its_own_prefix():
    secrets = Secrets(["abcd", "abcdefgh"])
    assert secrets.text("abcdefgh!") == f"{REDACTED}!"


def test_value_redacts_known_values_in_strings_and_keys_and_keeps_the_pattern_rules():
    secrets = Secrets([MCP_TOKEN])
    event = {"type": "error", "error": {"message": f"bad token {MCP_TOKEN}"}, MCP_TOKEN: [MCP_TOKEN, 5],
             "authorization": "Bearer x", "headers": {"X-Trace": "1"}}
    assert secrets.value(event) == {"type": "error", "error": {"message": f"bad token {REDACTED}"},
                                    REDACTED: [REDACTED, 5], "authorization": REDACTED,
                                    "headers": {"X-Trace": REDACTED}}
    assert event["error"]["message"].endswith(MCP_TOKEN)  # the input is not modified


def test_without_values_it_is_exactly_the_pattern_rules():
    secrets = Secrets()
    assert not secrets
    text = f"key {API_KEY} and Bearer abc.def"
    assert secrets.text(text) == redact_text(text)
    event = {"type": "x", "authorization": "y", "note": text}
    assert secrets.value(event) == redact(event)


def test_add_url_knows_the_password_and_credential_query_values():
    secrets = Secrets()
    secrets.add_url("http://alice:s3cr%2Ft@proxy.example:8080/?sig=SiGnAtUrE1&mode=ro&api-key=k3yV4lue")
    assert secrets
    said = "alice sent s3cr/t, s3cr%2Ft, SiGnAtUrE1 and k3yV4lue in mode ro"
    assert secrets.text(said) == f"alice sent {REDACTED}, {REDACTED}, {REDACTED} and {REDACTED} in mode ro"


def test_add_url_knows_a_user_name_only_when_it_stands_alone():
    alone, paired = Secrets(), Secrets()
    alone.add_url("https://Tk9fRandomToken@git.example/repo")
    paired.add_url("http://user:hunter22@proxy.example")
    assert alone.text("Tk9fRandomToken") == REDACTED
    assert paired.text('{"role": "user"} hunter22') == f'{{"role": "user"}} {REDACTED}'
    Secrets().add_url("http://[::1")  # not a URL: ignored, no error


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("wss://api.example/v1/realtime?model=gpt-realtime", "wss://api.example/v1/realtime?model=gpt-realtime"),
        ("http://u:p@proxy.example:3128", f"http://{REDACTED}@proxy.example:3128"),
        ("https://TOKEN@h.example/x?token=abc&x=1#f", f"https://{REDACTED}@h.example/x?token={REDACTED}&x=1#f"),
        ("wss://[::1]:9/v1?Api-Key=zz", f"wss://[::1]:9/v1?Api-Key={REDACTED}"),
    ],
)
def test_url_is_safe_to_show(url, shown):
    assert Secrets().url(url) == shown


def test_url_also_drops_known_values_and_survives_a_bad_port():
    secrets = Secrets(["Zq81path"])
    assert secrets.url("https://h.example/Zq81path/x") == f"https://h.example/{REDACTED}/x"
    assert secrets.url("http://h.example:99999/?key=v") == f"http://h.example:99999/?key={REDACTED}"


def test_mentioned_in_finds_values_in_raw_json_bytes():
    secrets = Secrets([MCP_TOKEN, "ab7"])
    assert secrets.mentioned_in(b'{"type":"x","m":"tok42"}')
    assert secrets.mentioned_in(b'{"type":"x","m":"ab7"}')
    assert not secrets.mentioned_in(b'{"type":"x","m":"cab7 tok4"}')
    assert repr(secrets).count("tok42") == 0


def test_update_knows_the_other_redactors_values_and_keeps_its_own():
    mine, theirs = Secrets(["tok-mine-123456"]), Secrets(["sk-their-key-abcdefgh", "pw12"])
    mine.update(theirs)
    assert mine.raw_text("tok-mine-123456 sk-their-key-abcdefgh pw12") == "[redacted] [redacted] [redacted]"
    assert theirs.raw_text("tok-mine-123456") == "tok-mine-123456"  # the other is unchanged
