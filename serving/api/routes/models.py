"""Registered model versions: anyone may list them, only an admin may promote one."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter

from data.stores.audit import acting_as
from serving.api.deps import Admin, State, Viewer
from serving.api.errors import ERROR_RESPONSES
from serving.schemas import ModelOut, PromoteRequest

router = APIRouter(prefix="/v1/models", tags=["models"], responses=ERROR_RESPONSES)


@router.get("", response_model=list[ModelOut])
async def models(who: Viewer, state: State) -> list[ModelOut]:
    return await asyncio.to_thread(state.service.directory.list)


@router.post("/{version}/promote", responses={409: {"description": "Refused"}})
async def promote(version: str, who: Admin, state: State, body: PromoteRequest | None = None) -> dict[str, Any]:
    """Make ``version`` production for its cities (admin, recorded as the promoter); replicas switch within a poll period."""
    with acting_as(who.id):  # the audit log names the caller
        result = await asyncio.to_thread(state.service.directory.promote, version, force=bool(body and body.force), by=who.id)
    await state.service.check_registry()  # this replica switches now rather than at its next poll
    return result.model_dump(mode="json")
