#!/usr/bin/env bash
# Install (if needed) and start NuNER Service on the embedded default.
# With no arguments it runs `nuner serve`; with arguments, that nuner command,
# e.g. `scripts/serve.sh create-tagger conll --train ...`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh "export,serve-cpu"
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"
if [ "$#" -eq 0 ]; then
    exec .venv/bin/nuner serve
fi
exec .venv/bin/nuner "$@"
