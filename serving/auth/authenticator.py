"""How a caller proves who they are: a JWT bearer token or an API key.

401 means "no or bad credentials", 403 "known caller, role too low" (principal.py); the two
are kept distinct. With ``settings.auth_enabled=false`` every caller is an anonymous admin,
and the service says so at start and on /healthz (see serving/api/routes/ops.py).
"""

from __future__ import annotations

import logging
import time
import uuid

import jwt

from data.settings import PlatformSettings
from serving.auth.key_lookup import KeyLookup
from serving.auth.keys import KeyStore, split_key, verify
from serving.auth.principal import ANONYMOUS, ROLE_RANK, Principal

log = logging.getLogger("efp.serving.auth")
AUTH_DISABLED_WARNING = "AUTHENTICATION IS DISABLED (auth_enabled=false): every caller is treated as admin"
#: How long an unknown key id is remembered as unknown: short, so a freshly created key works at once.
KEY_MISS_TTL_S = 5.0
NO_JWT_KEY_WARNING = "no jwt_secret or jwt_public_key configured: bearer tokens are refused (401); API keys still work"


class AuthError(Exception):
    """No or bad credentials (HTTP 401)."""


def verification_key(settings: PlatformSettings) -> str | None:
    """The key bearer tokens are checked against, or None: there is deliberately no built-in fallback."""
    if settings.jwt_algorithm == "RS256":
        return settings.jwt_public_key or None
    return settings.jwt_secret.get_secret_value() if settings.jwt_secret is not None else None


class Authenticator:
    def __init__(self, settings: PlatformSettings, keys: KeyStore | None) -> None:
        self._settings = settings
        self._keys = None if keys is None else KeyLookup(keys, hit_ttl_s=settings.serve.key_cache_s,
                                                        miss_ttl_s=min(KEY_MISS_TTL_S, settings.serve.key_cache_s))
        self._jwt_key = verification_key(settings)
        self._revoked = frozenset(settings.jwt_revoked_ids)
        if self.enabled and self._jwt_key is None:
            log.warning(NO_JWT_KEY_WARNING)

    @property
    def enabled(self) -> bool:
        return self._settings.auth_enabled

    async def authenticate(self, authorization: str | None, api_key: str | None) -> Principal:
        if not self.enabled:
            return ANONYMOUS
        if api_key:
            return await self._from_api_key(api_key)
        if authorization:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise AuthError("Authorization must be 'Bearer <token>'")
            return self._from_jwt(token.strip())
        raise AuthError("credentials required: 'Authorization: Bearer <JWT>' or 'X-API-Key: <key>'")

    async def _from_api_key(self, key: str) -> Principal:
        parts = split_key(key.strip())
        if parts is None or self._keys is None:
            raise AuthError("invalid API key")
        key_id, secret = parts
        record = await self._keys.get(key_id)
        if not verify(record, secret):
            raise AuthError("invalid or revoked API key")
        assert record is not None
        if record.expired():  # said only to whoever holds the secret: the key id alone learns nothing
            raise AuthError(f"API key {record.id} expired at {record.expires_at:%Y-%m-%d %H:%M} UTC; "
                            "ask an admin for a new one (`efp keys create`)")
        return Principal(f"key:{record.id}", record.role, record.rate_limit_per_minute)

    def _from_jwt(self, token: str) -> Principal:
        """Signature, then issuer, audience, expiry (with leeway), lifetime cap, revocation, role."""
        if self._jwt_key is None:
            raise AuthError("bearer tokens are not configured on this service; use an API key")
        settings = self._settings
        try:
            claims = jwt.decode(
                token, self._jwt_key, algorithms=[settings.jwt_algorithm], issuer=settings.jwt_issuer,
                audience=settings.jwt_audience, leeway=settings.jwt_leeway_s,
                options={"require": ["sub", "exp", "iat", "jti"]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("bearer token expired") from None
        except jwt.InvalidIssuerError:
            raise AuthError("bearer token has the wrong issuer") from None
        except jwt.InvalidAudienceError:
            raise AuthError("bearer token has the wrong audience") from None
        except jwt.PyJWTError as error:
            raise AuthError(f"invalid bearer token ({error})") from None
        lifetime = claims["exp"] - claims["iat"]
        if lifetime > settings.jwt_max_lifetime_s:
            raise AuthError(f"bearer token lifetime {lifetime} s is over the maximum of {settings.jwt_max_lifetime_s} s")
        if claims["jti"] in self._revoked:
            raise AuthError("bearer token revoked")
        role = claims.get("role")
        if not isinstance(role, str) or role not in ROLE_RANK:
            raise AuthError("bearer token has no valid 'role' claim (one of viewer, forecaster, admin)")
        return Principal(f"jwt:{claims['sub']}", role)


def issue_token(settings: PlatformSettings, subject: str, role: str, *, ttl_s: int = 3600, private_key: str | None = None) -> str:
    """A bearer token for tests and tools (HS256 with the configured secret, or RS256 with ``private_key``),
    carrying the issuer and audience the service checks and a fresh ``jti`` to revoke it by."""
    now = int(time.time())
    claims: dict[str, object] = {"sub": subject, "role": role, "iat": now, "exp": now + ttl_s, "jti": uuid.uuid4().hex}
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    if settings.jwt_algorithm == "RS256":
        if private_key is None:
            raise ValueError("RS256 needs the private key to sign")
        return jwt.encode(claims, private_key, algorithm="RS256")
    if settings.jwt_secret is None:
        raise ValueError("HS256 needs jwt_secret to sign")
    return jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm="HS256")
