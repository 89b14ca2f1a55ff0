"""The architecture as a test: the import-linter contracts of ``.importlinter``
(layers cli -> app -> export -> training -> core; the core and the serving path
never reach torch), and one import root."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

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


TYPE_PROBE = """
from nuner.app.schema import head_revision
from nuner.export.bundle_writer import write_bundle
from nuner.training.checkpoint import TrainedTagger

reveal_type(head_revision)
reveal_type(write_bundle)
reveal_type(TrainedTagger)
"""


def test_a_type_checker_resolves_the_same_imports(tmp_path):
    """mypy, run from the repository root as a developer would, follows the
    links to app/, training/ and export/ (an unresolved import reveals Any)."""
    probe = tmp_path / "probe.py"
    probe.write_text(TYPE_PROBE)
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--follow-imports=silent", "--ignore-missing-imports"]
        + ["--cache-dir", str(tmp_path / "cache"), str(probe)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    revealed = [line for line in result.stdout.splitlines() if "Revealed type" in line]
    assert len(revealed) == 3 and not any('"Any"' in line for line in revealed), result.stdout
    assert "nuner.training.checkpoint.TrainedTagger" in revealed[2]
    assert "nuner.core.bundle.Manifest" in revealed[1]


# Every script in bench/ (what has a ``__main__``; the rest are its shared modules),
# found rather than listed, so a new benchmark cannot be left out.
BENCH_SCRIPTS = sorted(
    path.stem
    for path in (ROOT / "bench").glob("*.py")
    if 'if __name__ == "__main__":' in path.read_text()
)


@pytest.mark.parametrize("script", BENCH_SCRIPTS)
def test_every_benchmark_runs_as_a_plain_script(script):
    """`python bench/X.py` with nothing but the installed package (no path tricks)."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / f"{script}.py"), "--help"],
        cwd=ROOT / "docs",  # not the repository root: nothing found by accident
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Usage" in result.stdout
