"""The forecast graph's shape with no work in it: what Serve's transport alone costs on this machine.

Same hops as ``serving.app`` (an HTTP ingress; a preprocessor; three members called at once
with the preprocessor's answer; an ensemble), same fast paths and fractional CPUs, and
payloads of the real sizes (an 18 KB feature packet to each member, a (96, 3) array back),
but every deployment returns at once. The serve benchmark runs it beside the real graph, so
a reader can split the uncached latency into Serve's share (this app) and ours (the rest).
"""


import asyncio  # no `from __future__ import annotations`: FastAPI reads the route's parameter types at run time
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from ray import serve
from ray.serve import Application
from ray.serve.handle import DeploymentHandle

from serving.deployments.ingress import own_handle

SHAPE_APP = "efp-shape"
SHAPE_ROUTE = "/shape"
PACKET_FLOATS = 18_000 // 8  # the tiny bundle's pickled FeaturePacket is about 18 KB
MEMBERS = ("XGBoost", "LSTM", "Transformer")


@serve.deployment(ray_actor_options={"num_cpus": 0.05})
class ShapePreprocessor:
    async def features(self, city: str) -> np.ndarray:
        return np.zeros(PACKET_FLOATS)


@serve.deployment(ray_actor_options={"num_cpus": 0.05})
class ShapeMember:
    async def predict(self, packet: np.ndarray) -> np.ndarray:
        return np.zeros((96, 3))


@serve.deployment(ray_actor_options={"num_cpus": 0.05})
class ShapeEnsemble:
    async def combine(self, predictions: dict[str, np.ndarray]) -> np.ndarray:
        return next(iter(predictions.values()))


api = FastAPI()


@serve.deployment(ray_actor_options={"num_cpus": 0.05})
@serve.ingress(api)
class ShapeIngress:
    def __init__(self, preprocessor: DeploymentHandle, members: dict[str, DeploymentHandle], ensemble: DeploymentHandle) -> None:
        # Remade here, as the real ingress does: this replica's transport, not the driver's.
        self._pre, self._ensemble = own_handle(preprocessor), own_handle(ensemble)
        self._members = {name: own_handle(h) for name, h in members.items()}

    @api.post("/")
    async def forecast(self, request: Request) -> dict[str, Any]:
        packet = await self._pre.features.remote((await request.json()).get("city", "DEL"))
        answers = await asyncio.gather(*(h.predict.remote(packet) for h in self._members.values()))
        combined = await self._ensemble.combine.remote(dict(zip(self._members, answers)))
        return {"points": len(combined)}


def shape_app() -> Application:
    members = {name: ShapeMember.options(name=f"Shape{name}").bind() for name in MEMBERS}
    return ShapeIngress.bind(ShapePreprocessor.bind(), members, ShapeEnsemble.bind())
