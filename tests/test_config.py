"""Configuration: no fallback secrets, production refuses to start without keys."""
from __future__ import annotations

import base64
import secrets

import pytest

from backend import config

# Keys as production wants them (secrets.token_urlsafe(32)); "k" * 40 is long enough but has no entropy.
STRONG = {"SECRET_KEY": "143bKzl7HJKzObA2pwImSox8ynHs0Nximb5nW9l6fok",
          "DATA_KEY": "XpIBvcVIuxoLXpIAvI8BobrfYzZ47_X5slaqFsZIoz4"}


def test_production_refuses_without_keys(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("DATA_KEY", raising=False)
    with pytest.raises(config.ConfigError, match="SECRET_KEY"):
        config.load(str(tmp_path), {"APP_ENV": "production"})
    assert not (tmp_path / "dev-keys.json").exists()


def test_production_refuses_stub_wechat(tmp_path):
    with pytest.raises(config.ConfigError, match="stub"):
        config.load(str(tmp_path), dict(STRONG, APP_ENV="production"))


def test_development_generates_keys_once(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("DATA_KEY", raising=False)
    first = config.load(str(tmp_path))
    assert "generated development keys" in capsys.readouterr().out
    second = config.load(str(tmp_path))
    assert first["SECRET_KEY"] == second["SECRET_KEY"] and first["DATA_KEY"] == second["DATA_KEY"]
    assert (tmp_path / "dev-keys.json").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("key", ["short", "x" * 31])
def test_short_keys_refused(tmp_path, key):
    with pytest.raises(config.ConfigError, match="32 bytes"):
        config.load(str(tmp_path), {"SECRET_KEY": key, "DATA_KEY": "d" * 40})


def test_rule_defaults_overridable_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MAX_ACCURACY_M", "80")
    monkeypatch.setenv("LIVING_ALLOWANCE_ENABLED", "true")
    cfg = config.load(str(tmp_path), {"SECRET_KEY": "k" * 40, "DATA_KEY": "d" * 40})
    assert cfg["MAX_ACCURACY_M"] == 80 and cfg["LIVING_ALLOWANCE_ENABLED"] is True


def test_postgres_url_uses_psycopg3(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://u@h/db")
    cfg = config.load(str(tmp_path), {"SECRET_KEY": "k" * 40, "DATA_KEY": "d" * 40})
    assert cfg["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@h/db"


LIVE = {"WECHAT_MODE": "live", "IDENTITY_MODE": "live", "IDENTITY_VERIFY_URL": "https://id.example/verify",
        "SMS_MODE": "live", "SMS_API_URL": "https://sms.example/send", "NOTIFY_MODE": "live"}


@pytest.mark.parametrize("over, problem", [
    ({"IDENTITY_MODE": "stub"}, "IDENTITY_MODE=stub"),
    ({"SMS_MODE": "stub"}, "SMS_MODE=stub"),
    ({"SMS_MODE": "fake"}, "SMS_MODE must be stub or live"),
    ({"IDENTITY_VERIFY_URL": None}, "IDENTITY_MODE=live needs IDENTITY_VERIFY_URL"),
    ({"SMS_API_URL": ""}, "SMS_MODE=live needs SMS_API_URL"),
    ({"NOTIFY_MODE": "stub"}, "NOTIFY_MODE=stub"),
    ({"NOTIFY_MODE": "maybe"}, "NOTIFY_MODE must be stub or live"),
    ({}, None),
])
def test_production_needs_live_identity_and_sms(tmp_path, over, problem):
    settings = dict(STRONG, APP_ENV="production", **dict(LIVE, **over))
    if problem is None:
        cfg = config.load(str(tmp_path), settings)
        assert (cfg["IDENTITY_MODE"], cfg["SMS_MODE"]) == ("live", "live")
        return
    with pytest.raises(config.ConfigError, match=problem):
        config.load(str(tmp_path), settings)


def test_identity_and_sms_default_to_stub_in_development(tmp_path, monkeypatch):
    for name in ("IDENTITY_MODE", "SMS_MODE", "IDENTITY_STUB_REFUSE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SMS_CODE_TTL_S", "300")
    cfg = config.load(str(tmp_path), {"SECRET_KEY": "k" * 40, "DATA_KEY": "d" * 40})
    assert (cfg["IDENTITY_MODE"], cfg["SMS_MODE"], cfg["IDENTITY_STUB_REFUSE"]) == ("stub", "stub", "")
    assert (cfg["SMS_CODE_TTL_S"], cfg["SMS_CODE_MAX_ATTEMPTS"], cfg["SMS_RESEND_S"]) == (300, 5, 60)


WEAK_KEYS = [
    ("k" * 40, "distinct byte values"),                              # one repeated character
    ("passwordpasswordpasswordpassword", "distinct byte values"),   # a word repeated
    ("thisismysupersecretkeyforproduction!!", "distinct byte values"),
    ("my-production-secret-key-2024!!!", "distinct byte values"),
    ("Tr0ub4dor&3Tr0ub4dor&3Tr0ub4dor&3", "distinct byte values"),
    ("abcdefghijklmnopqrstuvwxyz012345", "regular sequence"),       # all distinct, but a ramp
    ("0123456789" * 4, "distinct byte values"),
    ("ZmFrZWtleWZha2VrZXlmYWtla2V5ZmFrZWtleWZha2U=", "distinct byte values"),  # base64 of a repeated word
]


@pytest.mark.parametrize("weak, problem", WEAK_KEYS)
@pytest.mark.parametrize("name", ["SECRET_KEY", "DATA_KEY"])
def test_production_refuses_weak_keys(tmp_path, name, weak, problem):
    """Keys used to be checked only for length: 40 times "k" was a valid production key."""
    with pytest.raises(config.ConfigError, match=f"{name} is too weak for production: .*{problem}"):
        config.load(str(tmp_path), dict(STRONG, **LIVE, APP_ENV="production", **{name: weak}))


@pytest.mark.parametrize("make", [
    lambda: secrets.token_urlsafe(32),
    lambda: base64.b64encode(secrets.token_bytes(32)).decode(),   # openssl rand -base64 32
    lambda: secrets.token_hex(32),                                # openssl rand -hex 32
    lambda: base64.urlsafe_b64encode(secrets.token_bytes(48)).decode(),
], ids=["token_urlsafe", "base64", "hex", "longer"])
def test_production_accepts_generated_keys(tmp_path, make):
    for _ in range(200):
        assert config.key_strength_problem(make()) is None
    cfg = config.load(str(tmp_path), dict(LIVE, APP_ENV="production", SECRET_KEY=make(), DATA_KEY=make()))
    assert cfg["APP_ENV"] == "production"


def test_production_refuses_one_key_for_both_uses(tmp_path):
    with pytest.raises(config.ConfigError, match="must be different"):
        config.load(str(tmp_path), dict(LIVE, APP_ENV="production", SECRET_KEY=STRONG["SECRET_KEY"],
                                        DATA_KEY=STRONG["SECRET_KEY"]))


def test_development_keeps_accepting_simple_keys(tmp_path):
    cfg = config.load(str(tmp_path), {"SECRET_KEY": "k" * 40, "DATA_KEY": "d" * 40})
    assert cfg["SECRET_KEY"] == "k" * 40


def test_wechat_templates_must_be_a_json_object(tmp_path, monkeypatch):
    monkeypatch.setenv("WECHAT_TEMPLATES", '{"lesson_reminder": "TPL-1"}')
    cfg = config.load(str(tmp_path), {"SECRET_KEY": "k" * 40, "DATA_KEY": "d" * 40})
    assert cfg["WECHAT_TEMPLATES"] == {"lesson_reminder": "TPL-1"} and cfg["NOTIFY_MODE"] == "stub"
    for bad in ("[1]", "{nope"):
        monkeypatch.setenv("WECHAT_TEMPLATES", bad)
        with pytest.raises(config.ConfigError, match="WECHAT_TEMPLATES"):
            config.load(str(tmp_path), {"SECRET_KEY": "k" * 40, "DATA_KEY": "d" * 40})


@pytest.mark.parametrize("value, nice", [(None, 10), ("0", 0), ("19", 19), ("-1", None), ("20", None)])
def test_worker_nice_bounds(tmp_path, monkeypatch, value, nice):
    if value is None:
        monkeypatch.delenv("WORKER_NICE", raising=False)
    else:
        monkeypatch.setenv("WORKER_NICE", value)
    if nice is None:
        # A negative value would raise the worker above the web server (as root it could); more than 19 is no nice.
        with pytest.raises(config.ConfigError, match="WORKER_NICE"):
            config.load(str(tmp_path), dict(STRONG))
    else:
        assert config.load(str(tmp_path), dict(STRONG))["WORKER_NICE"] == nice
