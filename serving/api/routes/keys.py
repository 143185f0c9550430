"""API keys as an admin sees them: never the secret, only what ``efp keys list`` shows."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter

from serving.api.deps import Admin, State
from serving.api.errors import ERROR_RESPONSES
from serving.schemas import KeyOut

router = APIRouter(prefix="/v1/keys", tags=["admin"], responses=ERROR_RESPONSES)


@router.get("", response_model=list[KeyOut])
async def keys(who: Admin, state: State) -> list[KeyOut]:
    if state.keys is None:  # auth is off, so no key store was opened
        return []
    return [KeyOut(**k.public()) for k in await asyncio.to_thread(state.keys.list)]
