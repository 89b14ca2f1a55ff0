"""The architecture as a test: the import-linter contracts of ``.importlinter``
(layers cli -> app -> export -> training -> core; the core and the serving path
never reach torch), and one import root."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def test_layer_contracts_hold():
    result = subprocess.run(
        [str(LINT_IMPORTS), "--config", str(ROOT / ".importlinter"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-4000:]
    assert "0 broken" in result.stdout


def test_contracts_ignore_no_import():
    """An exception to a contract must be argued for here first."""
    assert "ignore_imports" not in (ROOT / ".importlinter").read_text()


def test_layer_folders_are_the_packages_they_install_as():
    """The repository keeps app/, training/, export/ at its top; the package reaches
    them through links, so every tool resolves one tree."""
    for layer in ("app", "training", "export"):
        link = ROOT / "nuner" / layer
        assert link.is_symlink() and link.resolve() == ROOT / layer
    import nuner.app.main

    assert Path(nuner.app.main.__file__).resolve() == ROOT / "app" / "main.py"


def test_no_sys_path_manipulation():
    sources = [
        p for d in ("nuner", "app", "training", "export", "bench") for p in (ROOT / d).rglob("*.py")
    ]
    offenders = [str(p) for p in sources if "sys.path" in p.read_text()]
    assert offenders == []
