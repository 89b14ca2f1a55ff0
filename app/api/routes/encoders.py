"""``/v1/encoders``: the published encoders (zero-shot extraction), inspected,
and the default chosen at run time."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response

from nuner.app.api.deps import (
    EncoderCacheDep,
    EncoderResolverDep,
    GlobalWriterDep,
    ReaderDep,
    RegistryDep,
)
from nuner.app.encoder_registry import EncoderNotFound, EncoderRegistry, EncoderVersion
from nuner.app.schemas import (
    DefaultEncoderRequest,
    EncoderDetail,
    EncoderList,
    EncoderSummary,
    EncoderVersionOut,
    ErrorEnvelope,
)

router = APIRouter(prefix="/v1/encoders", tags=["encoders"])
NOT_FOUND = {404: {"model": ErrorEnvelope, "description": "Unknown encoder or version."}}


def version_out(version: EncoderVersion) -> EncoderVersionOut:
    manifest = version.manifest
    variants = manifest.get("variants", {})
    return EncoderVersionOut(
        version=version.version,
        created_at=version.created_at,
        base_model=manifest.get("base_model", ""),
        variants=sorted(variants),
        threshold=manifest.get("threshold", 0.5),
        licences=manifest.get("licences", []),
        non_commercial=version.non_commercial,
        pretraining=manifest.get("pretraining", {}),
        metrics=manifest.get("metrics", {}),
        verification={k: v.get("verification", {}) for k, v in variants.items()},
    )


def current_default(encoders: EncoderRegistry) -> str | None:
    try:
        return encoders.resolve(None).ref
    except EncoderNotFound:  # no default set, or it names an encoder since deleted
        return None


@router.get("", response_model=EncoderList, summary="List encoders and the default")
async def list_encoders(registry: RegistryDep, principal: ReaderDep) -> EncoderList:
    encoders = registry.encoders

    def read() -> EncoderList:
        summaries = []
        for name in encoders.names():
            versions = encoders.versions(name)
            summaries.append(
                EncoderSummary(
                    name=name,
                    latest=versions[-1].ref,
                    versions=[v.version for v in versions],
                    non_commercial=versions[-1].non_commercial,
                )
            )
        return EncoderList(
            default=current_default(encoders),
            default_reference=encoders.default_reference(),
            encoders=summaries,
        )

    return await asyncio.to_thread(read)


@router.get(
    "/{name}",
    response_model=EncoderDetail,
    responses=NOT_FOUND,
    summary="Versions, pre-training data, licences and metrics of an encoder",
)
async def get_encoder(name: str, registry: RegistryDep, principal: ReaderDep) -> EncoderDetail:
    encoders = registry.encoders

    def read() -> EncoderDetail:
        versions = encoders.versions(name)
        if not versions:
            raise EncoderNotFound(f"no encoder named {name!r}")
        default = current_default(encoders)
        return EncoderDetail(
            name=name,
            is_default=default is not None and default.partition("@")[0] == name,
            versions=[version_out(v) for v in versions],
        )

    return await asyncio.to_thread(read)


@router.put(
    "/default",
    response_model=EncoderList,
    responses=NOT_FOUND,
    summary="Make an encoder the default (every replica within alias_cache_seconds)",
)
async def set_default_encoder(
    body: DefaultEncoderRequest,
    registry: RegistryDep,
    resolver: EncoderResolverDep,
    principal: GlobalWriterDep,
) -> EncoderList:
    await asyncio.to_thread(registry.encoders.set_default, body.encoder)
    resolver.invalidate()
    return await list_encoders(registry, principal)


@router.delete(
    "/{name}/versions/{version}",
    status_code=204,
    responses={
        **NOT_FOUND,
        409: {"model": ErrorEnvelope, "description": "The default, or head taggers use it."},
    },
    summary="Delete an encoder version no head tagger and no default relies on",
)
async def delete_encoder_version(
    name: str,
    version: str,
    registry: RegistryDep,
    resolver: EncoderResolverDep,
    cache: EncoderCacheDep,
    principal: GlobalWriterDep,
) -> Response:
    await asyncio.to_thread(registry.encoders.delete_version, name, version)
    cache.forget(name, version)
    resolver.invalidate()
    return Response(status_code=204)
