#!/usr/bin/env bash
# Install (if needed) and start NuNER Service on the embedded default.
# Until the HTTP service lands (issue 4) this starts the CLI: `nuner info`,
# then any arguments given, e.g. `scripts/serve.sh finetune --help`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh "train,serve-cpu"
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"
if [ "$#" -eq 0 ]; then
    exec .venv/bin/nuner info
fi
exec .venv/bin/nuner "$@"
