#!/usr/bin/env bash
# GPU speed benchmark: Table 7 latency (batch 16, FP16), Table 11 throughput
# (batch 128), Figure 3 / Tables 2-3 training, to results/bench/gpu-<device>/ in under 6 minutes
# on one H200. Rerun to complete an interrupted run. Options: bench/gpu.sh --help (see bench/README.md).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -x "$repo/.venv/bin/python" ]]; then
    python="$repo/.venv/bin/python"
else
    python="python3"
fi
export PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}"  # the package imports without being installed
export PYTHONUNBUFFERED=1
exec "$python" -m replication bench-gpu "$@"
