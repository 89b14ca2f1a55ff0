"""Dependency audit over every package installed in the dev environment (a
superset of the images'): pip-audit first; where it can reach no vulnerability
data (this machine's package mirror answers PyPI's per-version JSON with 404
and api.osv.dev does not resolve), PyPI's project JSON, whose
``vulnerabilities`` are those of the latest release: an exact audit of every
package installed at its latest release, the others listed as unaudited."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PIP_AUDIT = ROOT / ".venv-audit" / "bin" / "pip-audit"
ACCEPTED = ROOT / "deploy" / "audit-ignore.txt"
PYPI = "https://pypi.org/pypi"


def accepted_ids() -> set[str]:
    lines = ACCEPTED.read_text().splitlines()
    return {line.split()[0] for line in lines if line.strip() and not line.startswith("#")}


def installed() -> list[tuple[str, str]]:
    frozen = subprocess.run(
        [sys.executable, "-m", "pip", "freeze", "--exclude-editable"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [tuple(line.split("==", 1)) for line in frozen.splitlines() if "==" in line]


def pip_audit(packages: list[tuple[str, str]], tmp_path: Path) -> dict | None:
    """pip-audit's JSON report, or None when it could audit nothing."""
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("".join(f"{name}=={version}\n" for name, version in packages))
    ignores = [arg for vuln in sorted(accepted_ids()) for arg in ("--ignore-vuln", vuln)]
    command = [str(PIP_AUDIT), "-r", str(requirements), "--no-deps", "--disable-pip"]
    command += ["--format", "json", "--progress-spinner", "off", *ignores]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if not result.stdout.strip():
        return None
    report = json.loads(result.stdout)
    audited = [d for d in report["dependencies"] if "skip_reason" not in d]
    return report if audited else None


def audit_one(client: httpx.Client, accepted: set[str], name: str, version: str):
    """(findings, None) for a package at its latest release, else ([], why not)."""
    answer = client.get(f"{PYPI}/{name}/json")
    if answer.status_code != 200:
        return [], f"{name} {version} (PyPI answered {answer.status_code})"
    data = answer.json()
    latest = data["info"]["version"]
    if Version(latest) != Version(Version(version).public):
        return [], f"{name} {version} (latest is {latest})"
    found = [
        f"{name} {version}: {v['id']} (fixed in {v.get('fixed_in')})"
        for v in data.get("vulnerabilities") or []
        if not accepted & {v["id"], *v.get("aliases", [])}
    ]
    return found, None


def latest_release_audit(packages: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
    """(findings, unaudited) from PyPI's project JSON."""
    accepted = accepted_ids()
    with httpx.Client(timeout=30, follow_redirects=True) as client:
        try:
            client.get(f"{PYPI}/pip/json").raise_for_status()
        except httpx.HTTPError as error:
            pytest.skip(f"no vulnerability data reachable (pip-audit, PyPI JSON): {error}")
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda p: audit_one(client, accepted, *p), packages))
    findings = [f for found, _ in results for f in found]
    return findings, [why for _, why in results if why]


@pytest.mark.skipif(not PIP_AUDIT.exists(), reason="scripts/setup.sh dev installs pip-audit")
def test_no_known_vulnerabilities_in_installed_packages(tmp_path):
    packages = installed()
    report = pip_audit(packages, tmp_path)
    if report is not None:
        findings = [
            f"{d['name']} {d['version']}: {v['id']}"
            for d in report["dependencies"]
            for v in d.get("vulns", [])
        ]
    else:
        findings, unaudited = latest_release_audit(packages)
        print(
            f"audited {len(packages) - len(unaudited)} of {len(packages)} packages at their "
            f"latest release; not audited (older pins): {', '.join(unaudited)}"
        )
    assert not findings, "fix, or accept with a reason in deploy/audit-ignore.txt:\n" + "\n".join(
        findings
    )
