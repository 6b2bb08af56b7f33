"""`GET /models`: every model the service knows, with its licence, whether it is installed and loaded."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from faceswap.models.catalog import PIPELINE_NOTICE, ModelEntry, catalog

__all__ = ["ModelsOutput", "catalog_router"]

catalog_router = APIRouter(tags=["operations"])


class ModelsOutput(BaseModel):
    """The model catalogue."""

    default_swapper: str = Field(
        description="The swapper a request gets when it names none (FACESWAP_SWAPPER)."
    )
    notice: str = Field(description="What the licences mean for the pipeline as a whole.")
    models: list[ModelEntry]


@catalog_router.get("/models", response_model=ModelsOutput)
async def models(request: Request) -> ModelsOutput:
    """Every model: role, file, installed, loaded, licence, commercial use (yes/no/unclear), size, check."""
    settings = request.app.state.settings
    engine = request.app.state.lifecycle.ready_engine()
    loaded = engine.loaded_models() if engine is not None else ()
    entries = await asyncio.to_thread(catalog, settings.model_dir, loaded)
    return ModelsOutput(default_swapper=settings.swapper, notice=PIPELINE_NOTICE, models=entries)
