"""The city catalogue: which codes a forecast request may name."""

from __future__ import annotations

from fastapi import APIRouter

from serving.api.deps import State, Viewer
from serving.api.errors import ERROR_RESPONSES
from serving.schemas import CityOut

router = APIRouter(prefix="/v1/cities", tags=["catalogue"], responses=ERROR_RESPONSES)


@router.get("", response_model=list[CityOut])
async def cities(who: Viewer, state: State) -> list[CityOut]:
    return [CityOut(**c.model_dump(exclude={"name"}), name=c.name) for c in state.service.catalogue]
