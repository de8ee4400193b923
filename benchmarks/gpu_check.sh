#!/usr/bin/env bash
# Issue #7's GPU checks and measurements in one command of about 8 minutes on an H100, for a session
# that is lent a GPU machine (device tool: run, command "bash benchmarks/gpu_check.sh", timeout_s 600).
# It uses the machine's own python3 (PyTorch, transformers) with the project on PYTHONPATH, and writes
# to $OUT (else ./gpu-results):
#   tests-gpu.txt                 tests/gpu: bf16 leak property, padding, FlexAttention = SDPA (outputs and
#                                 gradients), a short pre-training run on CUDA
#   base-L-ATTENTION.md           objective_step.py at XLM-R base size, bf16, L = 256 and 512 tokens,
#                                 16,384 tokens a step, SDPA with dense masks against FlexAttention block
#                                 masks; the SDPA runs also time TLM and the plain Hugging Face MLM step
# Five files (the device tool brings back at most eight). Each part has its own time limit, so that
# one slow part does not cost the others' results.
set -u
out=${OUT:-gpu-results}
mkdir -p "$out"
export PYTHONPATH="$PWD/src:$PWD/benchmarks" PYTHONUNBUFFERED=1
python3 -c "import torch, transformers; print(torch.__version__, transformers.__version__, torch.cuda.get_device_name())"
timeout 120 python3 -m pytest -q -p no:cacheprovider tests/gpu >"$out/tests-gpu.txt" 2>&1
tail -5 "$out/tests-gpu.txt"
for length in 256 512; do
    for attention in sdpa flex_attention; do
        rows=mmlm,camlm
        [ "$attention" = sdpa ] && rows=mmlm,tlm,camlm,hf-mlm
        timeout 110 python3 benchmarks/objective_step.py --size base --length "$length" --batch $((16384 / length)) \
            --steps 10 --warmup 3 --attention "$attention" --rows "$rows" \
            >"$out/base-$length-$attention.md" 2>&1
        tail -7 "$out/base-$length-$attention.md"
    done
done
