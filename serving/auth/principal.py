"""Who the caller is once authenticated, and the one rule roles follow: each role may do
everything the roles below it may (viewer < forecaster < admin).

Kept apart from how a caller proves who they are (authenticator.py) so a route's role check
and the key store's role validation read the same ranking.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["viewer", "forecaster", "admin"]
ROLE_RANK: dict[str, int] = {"viewer": 0, "forecaster": 1, "admin": 2}
#: The lowest role whose ``Cache-Control: no-cache`` is honoured: computing fresh costs real work.
CACHE_BYPASS_ROLE: Role = "forecaster"


class RoleError(Exception):
    """The caller's role is below what the route needs (HTTP 403)."""


@dataclass(frozen=True)
class Principal:
    id: str  # "key:<id>", "jwt:<sub>" or "anonymous"; safe to log
    role: str
    rate_limit_per_minute: int | None = None

    @property
    def may_bypass_cache(self) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[CACHE_BYPASS_ROLE]

    def require(self, role: str) -> None:
        if ROLE_RANK[self.role] < ROLE_RANK[role]:
            raise RoleError(f"role '{self.role}' may not do this; needs '{role}'")


#: The caller when authentication is off: an admin, so the service works and says so loudly.
ANONYMOUS = Principal("anonymous", "admin")
