"""Credentials without the HTTP stack: no constant secret anywhere, secret length, and what
a bearer token must carry. The key store is the real file store in a temporary folder."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import jwt
import pytest

from data.settings import SettingsError, load_settings
from serving.auth import AuthError, Authenticator
from serving.auth.keys import FileKeyStore

#: What ``data/settings.py`` used to sign with when no secret was set (issue 11, finding 1).
OLD_PUBLIC_CONSTANT = "development-only-secret-change-me"


def _token(key: str, **claims: object) -> str:
    now = int(time.time())
    body = {"sub": "mallory", "role": "admin", "iat": now, "exp": now + 600, "jti": "m-1", **claims}
    return jwt.encode(body, key, algorithm="HS256")


def test_without_a_secret_bearer_tokens_are_refused_and_api_keys_still_work(tmp_path: Path,
                                                                           caplog: pytest.LogCaptureFixture) -> None:
    settings = load_settings(data_dir=tmp_path / "var")  # the shipped platform.yaml: development, auth on, no secret
    keys = FileKeyStore(tmp_path / "keys.json")
    _, key = keys.create("ops", "viewer")
    with caplog.at_level(logging.WARNING, logger="efp.serving.auth"):
        auth = Authenticator(settings, keys)
    assert "bearer tokens are refused" in caplog.text
    with pytest.raises(AuthError, match="bearer tokens are not configured"):
        asyncio.run(auth.authenticate(f"Bearer {_token(OLD_PUBLIC_CONSTANT)}", None))
    assert asyncio.run(auth.authenticate(None, key)).role == "viewer"


@pytest.mark.parametrize("field", ["jwt_secret"])
def test_a_secret_shorter_than_32_bytes_is_refused_without_being_echoed(field: str) -> None:
    with pytest.raises(SettingsError, match=f"'{field}'.*at least 32 bytes") as caught:
        load_settings(**{field: "short-but-secret"}, environment="test")
    assert "short-but-secret" not in str(caught.value)


def test_a_configured_secret_verifies_its_own_tokens_only() -> None:
    secret = "s" * 32
    auth = Authenticator(load_settings(jwt_secret=secret, environment="test"), None)
    assert asyncio.run(auth.authenticate(f"Bearer {_token(secret)}", None)).id == "jwt:mallory"
    with pytest.raises(AuthError):
        asyncio.run(auth.authenticate(f"Bearer {_token(OLD_PUBLIC_CONSTANT)}", None))


SECRET = "k" * 32


def _bound(**overrides: object) -> Authenticator:
    settings = load_settings(jwt_secret=SECRET, jwt_issuer="https://id.example", jwt_audience="efp-api",
                             jwt_revoked_ids=["stolen-1"], environment="test", **overrides)
    return Authenticator(settings, None)


def _claims(**claims: object) -> dict[str, object]:
    now = int(time.time())
    return {"sub": "ops", "role": "viewer", "iat": now, "exp": now + 600, "jti": "t-1",
            "iss": "https://id.example", "aud": "efp-api", **claims}


@pytest.mark.parametrize(("claims", "why"), [
    ({"iss": "https://evil.example"}, "issuer"),
    ({"aud": "another-api"}, "audience"),
    ({"exp": int(time.time()) + 30 * 86400}, "lifetime"),
    ({"jti": "stolen-1"}, "revoked"),
    ({"role": ["admin", "viewer"]}, "role"),  # used to be a TypeError: a 500
    ({"exp": int(time.time()) - 3600}, "expired"),
])
def test_bearer_tokens_are_bound_to_issuer_audience_lifetime_and_revocation(claims: dict, why: str) -> None:
    """Issue 11, finding 10 (and the list-valued role claim of finding 9)."""
    auth = _bound()
    token = jwt.encode(_claims(**claims), SECRET, algorithm="HS256")
    with pytest.raises(AuthError, match=why):
        asyncio.run(auth.authenticate(f"Bearer {token}", None))


def test_a_bound_token_within_the_leeway_is_accepted() -> None:
    auth = _bound(jwt_leeway_s=30)
    token = jwt.encode(_claims(exp=int(time.time()) - 5), SECRET, algorithm="HS256")  # clocks a little apart
    assert asyncio.run(auth.authenticate(f"Bearer {token}", None)).id == "jwt:ops"


def test_issue_token_makes_tokens_the_authenticator_accepts() -> None:
    from serving.auth import issue_token

    settings = load_settings(jwt_secret=SECRET, jwt_issuer="https://id.example", jwt_audience="efp-api", environment="test")
    principal = asyncio.run(Authenticator(settings, None).authenticate(f"Bearer {issue_token(settings, 'ops', 'admin')}", None))
    assert principal.role == "admin"
