"""Scoring API settings from the environment, and API keys: each mistake named clearly."""

from __future__ import annotations

import re

import pytest

from leadml.errors import ConfigError
from leadml.gate import key_matches, load_api_keys
from leadml.serving import ServiceSettings

LONG = "a" * 20


def test_defaults_need_a_key_or_insecure_mode():
    settings = ServiceSettings.from_env({})
    assert (settings.model_name, settings.model_ref, settings.max_batch) == (
        "lead-qualifier",
        "champion",
        1000,
    )
    assert settings.unknown_fields == "reject" and not settings.access_log
    with pytest.raises(ConfigError, match=r"no API key configured.*LEADML_INSECURE_DEV=1"):
        settings.check_keys()
    ServiceSettings.from_env({"LEADML_INSECURE_DEV": "yes"}).check_keys()
    ServiceSettings.from_env({"LEADML_API_KEYS": LONG}).check_keys()


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"LEADML_MAX_BATCH": "lots"}, "LEADML_MAX_BATCH=lots: expected a whole number >= 1"),
        ({"LEADML_MAX_BATCH": "0"}, "LEADML_MAX_BATCH=0"),
        (
            {"LEADML_MAX_BODY_BYTES": "10"},
            "LEADML_MAX_BODY_BYTES=10: expected a whole number >= 1024",
        ),
        (
            {"LEADML_UNKNOWN_FIELDS": "drop"},
            "LEADML_UNKNOWN_FIELDS=drop: expected reject or ignore",
        ),
        ({"LEADML_MODEL": "latest"}, "serve an alias"),
        ({"LEADML_INSECURE_DEV": "maybe"}, "LEADML_INSECURE_DEV=maybe"),
        ({"LEADML_API_KEYS": "short"}, "shorter than 16 characters"),
        (
            {"LEADML_API_KEYS_FILE": "/no/such/keys"},
            "LEADML_API_KEYS_FILE=/no/such/keys: no such file",
        ),
    ],
)
def test_bad_settings_name_the_variable(env, words):
    with pytest.raises(ConfigError, match=re.escape(words)):
        ServiceSettings.from_env(env)


def test_keys_from_the_variable_and_the_file(tmp_path):
    path = tmp_path / "keys"
    path.write_text(f"# current\n{'b' * 20}\n\n  {'c' * 20}  \n")
    keys = load_api_keys({"LEADML_API_KEYS": f"{LONG}, ", "LEADML_API_KEYS_FILE": str(path)})
    assert keys == [LONG, "b" * 20, "c" * 20]
    settings = ServiceSettings.from_env({"LEADML_MAX_BATCH": "50"})
    assert settings.max_body == 1 << 20  # at least 1 MiB, else 8 KiB a lead


def test_key_matches_any_configured_key():
    keys = [b"x" * 20, b"y" * 20]
    assert key_matches(b"y" * 20, keys)
    assert not key_matches(b"y" * 19, keys)
    assert not key_matches(b"", keys)
