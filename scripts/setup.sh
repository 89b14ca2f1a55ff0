#!/usr/bin/env bash
# Create .venv and install the project with the given extras; a no-op when
# pyproject.toml has not changed since the last successful install.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS="${1:-dev}"
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
STAMP=".venv/.installed-${EXTRAS//,/-}"
if [ ! -f "$STAMP" ] || [ pyproject.toml -nt "$STAMP" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    # torch first and alone, so the pinned CPU build is taken (no CUDA wheels).
    .venv/bin/python -m pip install --quiet "torch==2.13.0"
    .venv/bin/python -m pip install --quiet -e ".[${EXTRAS}]"
    touch "$STAMP"
fi

# Checkov (tests/deploy) in its own virtualenv: its pinned dependencies would
# fight ours. Only with the dev extras.
CHECKOV_VERSION=3.3.30
if [[ ",$EXTRAS," == *",dev,"* ]] && [ ! -f ".venv-checkov/.installed-$CHECKOV_VERSION" ]; then
    "$PYTHON" -m venv .venv-checkov
    .venv-checkov/bin/python -m pip install --quiet "checkov==$CHECKOV_VERSION"
    touch ".venv-checkov/.installed-$CHECKOV_VERSION"
fi

# pip-audit (tests/deploy/test_audit.py) in its own virtualenv too, so that it
# audits our environment and not its own dependencies.
PIP_AUDIT_VERSION=2.10.1
if [[ ",$EXTRAS," == *",dev,"* ]] && [ ! -f ".venv-audit/.installed-$PIP_AUDIT_VERSION" ]; then
    "$PYTHON" -m venv .venv-audit
    .venv-audit/bin/python -m pip install --quiet "pip-audit==$PIP_AUDIT_VERSION"
    touch ".venv-audit/.installed-$PIP_AUDIT_VERSION"
fi

# The playground's browser tests (tests/app/test_playground_browser.py) drive
# Debian's Chromium and ChromeDriver, never a browser a tool downloads.
if [[ ",$EXTRAS," == *",dev,"* ]] && ! { command -v chromium && command -v chromedriver; } >/dev/null; then
    if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
    else
        echo "chromium and chromium-driver are missing (apt-get as root installs them):" \
            "the browser tests will fail" >&2
    fi
fi
