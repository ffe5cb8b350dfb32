#!/usr/bin/env bash
# The GPU machine's one call for issue #20's Unsloth rows (carry .whl and .whl-unsloth):
#   bash bench/unsloth_speed.sh [bench/unsloth_speed.py arguments]
# Two install targets: the main stack (/tmp/site: transformers 5.23, trl 1.16, datasets 5.2) builds
# the model folders; the Unsloth stack (/tmp/site-u: unsloth, trl 1.15, datasets 4.8 over the
# machine's own transformers 5.17) trains. The report and the log land in $OUT.
set -uo pipefail
out=${OUT:-/tmp/out}; mkdir -p "$out"
pipi() { python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$@"; }
pipi /tmp/site .whl/*.whl || exit 1
pipi /tmp/site-u .whl-unsloth/*.whl .whl/bitsandbytes-*.whl .whl/dill-*.whl .whl/multiprocess-*.whl \
  .whl/peft-*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv,noheader
python3 bench/unsloth_speed.py --site-unsloth /tmp/site-u --out "$out/unsloth_speed.json" "$@" 2>&1 \
  | tee "$out/unsloth_speed.log"
