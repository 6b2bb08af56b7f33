"""Operator routes, behind the API key: reload the models; set failpoints (only when started with some)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from faceswap.errors import ErrorCode, SwapError
from faceswap.http.jsonbody import ParsedJSONRoute
from faceswap.lifecycle import ModelLifecycle
from faceswap.runtime.failpoints import Failpoints

__all__ = ["FailpointSpec", "admin_router"]


class FailpointSpec(BaseModel):
    """A failpoint spec as in FACESWAP_FAILPOINTS; empty clears them all."""

    spec: str = Field("", max_length=200, examples=["swap_oom:1", ""])


def admin_router(lifecycle: ModelLifecycle, failpoints: Failpoints, *, failpoints_enabled: bool) -> APIRouter:
    """The /admin routes; mounted only when an API key guards them."""
    router = APIRouter(prefix="/admin", tags=["operations"], route_class=ParsedJSONRoute)

    @router.post("/reload")
    async def reload() -> dict[str, Any]:
        """Drop the loaded models and load them again from FACESWAP_MODEL_DIR (e.g. after fixing a file)."""
        ready = await asyncio.to_thread(lifecycle.reload)
        state = lifecycle.state
        if not ready:
            lifecycle.keep_trying()
            raise SwapError(ErrorCode.NOT_READY, f"The models did not load: {state.reason}")
        return {"status": state.status.value, "load_seconds": round(state.load_seconds or 0.0, 3)}

    if failpoints_enabled:

        @router.put("/failpoints")
        async def set_failpoints(body: FailpointSpec) -> dict[str, Any]:
            """Replace the armed failpoints (exists only when the worker started with FACESWAP_FAILPOINTS)."""
            try:
                failpoints.configure(body.spec)
            except ValueError as exc:
                raise SwapError(ErrorCode.INVALID_INPUT, "That failpoint spec is not valid.") from exc
            return {"failpoints": failpoints.describe()}

    return router
