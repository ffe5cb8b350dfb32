#!/usr/bin/env bash
# Download into ./.whl-unsloth (git-ignored) what the GPU machine lacks for Unsloth, beside the
# main ./.whl: Unsloth pins transformers <= 5.17 (the machine's own), trl <= 1.15 and
# datasets < 5, so it gets its own folder and its own install target (bench/unsloth_speed.sh).
# bitsandbytes, dill, multiprocess and peft come from ./.whl. Not carried, because
# `from unsloth import FastLanguageModel` does not need them there: xformers (optional; Unsloth
# falls back to SDPA), diffusers, pydantic, hf_transfer, the studio's server packages.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
ex=$(git rev-parse --git-path info/exclude); mkdir -p "$(dirname "$ex")"
grep -qx '/.whl-unsloth/' "$ex" 2>/dev/null || echo '/.whl-unsloth/' >> "$ex"
mkdir -p .whl-unsloth
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform any -d .whl-unsloth \
  unsloth==2026.10.9 unsloth_zoo==2026.10.9 trl==1.15.0 datasets==4.8.5 torchao==0.18.0 \
  cut_cross_entropy==25.1.1 tyro==1.0.17 docstring_parser==0.18.0 typeguard==4.6.1 msgspec==0.23.0 \
  2> >(grep -v "^WARNING: Location" >&2)
python3 bench/slim_wheel.py .whl-unsloth/unsloth-2026.10.9-py3-none-any.whl studio
du -sh .whl-unsloth
