"""Who may call the service: principals and roles, proving identity (JWT or API key), the
API key store and per-credential rate limits.

The names here are what the rest of serving needs to authenticate a request; the key store
(``serving.auth.keys``) and the rate limiter (``serving.auth.ratelimit``) are imported from
their modules, so the CLI's key commands need not load the HTTP side.
"""

from serving.auth.authenticator import AUTH_DISABLED_WARNING, Authenticator, AuthError, issue_token
from serving.auth.principal import ANONYMOUS, ROLE_RANK, Principal, Role, RoleError

__all__ = [
    "ANONYMOUS", "AUTH_DISABLED_WARNING", "ROLE_RANK", "AuthError", "Authenticator", "Principal", "Role", "RoleError",
    "issue_token",
]
