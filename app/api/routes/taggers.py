from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response

from nuner.app.api.deps import CacheDep, ReaderDep, RegistryDep, ResolverDep, WriterDep
from nuner.app.auth import Principal
from nuner.app.errors import ApiError
from nuner.app.registry import TaggerNotFound, TaggerVersion
from nuner.app.schemas import ErrorEnvelope, TaggerDetail, TaggerList, TaggerSummary, VersionOut

router = APIRouter(prefix="/v1/taggers", tags=["taggers"])
NOT_FOUND = {404: {"model": ErrorEnvelope, "description": "Unknown tagger or version."}}


def owned(principal: Principal, name: str) -> None:
    """Another namespace's tagger looks exactly like one that does not exist."""
    if not principal.owns(name):
        raise TaggerNotFound(f"no tagger named {name!r}")


def version_out(version: TaggerVersion) -> VersionOut:
    manifest = version.manifest
    variants = manifest.get("variants", {})
    return VersionOut(
        version=version.version,
        labels=version.labels,
        created_at=version.created_at,
        base_model=manifest.get("base_model", ""),
        variants=sorted(variants),
        metrics=manifest.get("metrics", {}),
        verification={k: v.get("verification", {}) for k, v in variants.items()},
        training=manifest.get("training", {}),
        encoder=version.encoder,
    )


@router.get("", response_model=TaggerList, summary="List taggers")
async def list_taggers(registry: RegistryDep, principal: ReaderDep) -> TaggerList:
    def read() -> TaggerList:
        return TaggerList(
            taggers=[
                TaggerSummary(
                    name=name,
                    latest=latest,
                    versions=[v.version for v in versions],
                    labels=versions[-1].labels,
                    encoder=versions[-1].encoder,
                )
                for name, (versions, latest) in registry.catalogue().items()
                if principal.owns(name)
            ]
        )

    return await asyncio.to_thread(read)


@router.get(
    "/{name}",
    response_model=TaggerDetail,
    responses=NOT_FOUND,
    summary="Versions, labels, metrics and aliases of a tagger",
)
async def get_tagger(name: str, registry: RegistryDep, principal: ReaderDep) -> TaggerDetail:
    owned(principal, name)

    def read() -> TaggerDetail:
        versions = registry.versions(name)
        if not versions:
            raise TaggerNotFound(f"no tagger named {name!r}")
        return TaggerDetail(
            name=name, aliases=registry.aliases(name), versions=[version_out(v) for v in versions]
        )

    return await asyncio.to_thread(read)


@router.delete("/{name}", status_code=204, responses=NOT_FOUND, summary="Delete a tagger")
async def delete_tagger(
    name: str, registry: RegistryDep, cache: CacheDep, resolver: ResolverDep, principal: WriterDep
) -> Response:
    owned(principal, name)
    await asyncio.to_thread(registry.delete_tagger, name)
    cache.forget(name)
    resolver.invalidate()
    return Response(status_code=204)


@router.delete(
    "/{name}/versions/{version}",
    status_code=204,
    responses=NOT_FOUND,
    summary="Delete one version (its alias moves to the latest remaining)",
)
async def delete_version(
    name: str,
    version: str,
    registry: RegistryDep,
    cache: CacheDep,
    resolver: ResolverDep,
    principal: WriterDep,
) -> Response:
    owned(principal, name)
    if "@" in version or "/" in version:
        raise ApiError(422, "invalid_version", f"invalid version {version!r}")
    await asyncio.to_thread(registry.delete_version, name, version)
    cache.forget(name, version)
    resolver.invalidate()
    return Response(status_code=204)
