"""Dependency audit: pip-audit over every package installed in the dev
environment (a superset of the images'), against PyPI's vulnerability data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PIP_AUDIT = ROOT / ".venv-audit" / "bin" / "pip-audit"
ACCEPTED = ROOT / "deploy" / "audit-ignore.txt"


def accepted_ids() -> list[str]:
    lines = ACCEPTED.read_text().splitlines()
    return [line.split()[0] for line in lines if line.strip() and not line.startswith("#")]


def audit(requirements: Path) -> dict:
    ignores = [arg for vuln in accepted_ids() for arg in ("--ignore-vuln", vuln)]
    command = [str(PIP_AUDIT), "-r", str(requirements), "--no-deps", "--disable-pip"]
    command += ["--format", "json", "--progress-spinner", "off", *ignores]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if not result.stdout.strip():
        pytest.skip(f"pip-audit could not run: {result.stderr.strip().splitlines()[-1:]}")
    return json.loads(result.stdout)


@pytest.mark.skipif(not PIP_AUDIT.exists(), reason="scripts/setup.sh dev installs pip-audit")
def test_no_known_vulnerabilities_in_installed_packages(tmp_path):
    frozen = subprocess.run(
        [sys.executable, "-m", "pip", "freeze", "--exclude-editable"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(frozen)
    report = audit(requirements)
    dependencies = report["dependencies"]
    audited = [d for d in dependencies if "skip_reason" not in d]
    if not audited:  # a silent "no known vulnerabilities" would be a lie
        reason = dependencies[0]["skip_reason"] if dependencies else "nothing to audit"
        pytest.skip(f"no vulnerability data reachable for {len(dependencies)} packages: {reason}")
    findings = [f"{d['name']} {d['version']}: {v['id']}" for d in audited for v in d["vulns"]]
    assert not findings, "fix, or accept with a reason in deploy/audit-ignore.txt:\n" + "\n".join(
        findings
    )
