#!/usr/bin/env bash
# Issue #7's GPU checks and measurements in one command of at most 9.5 minutes, for a session that
# is lent a GPU machine (device tool: run, command "bash benchmarks/gpu_check.sh", timeout_s 600).
# It uses the machine's own python3 (PyTorch, transformers; PYTHON=... for another) with the project
# on PYTHONPATH: the project requires transformers 5.24, but the paths run here behave alike under the
# 5.17 seen there (compared by reading and on CPU; activation checkpointing, not run here, needs 5.24). XLM-R
# base size, bf16, 16,384 tokens a step; the most important part first, each with its own time limit
# (cut short by the overall deadline) so that a slow part does not cost the others' results.
# Into $OUT (else ./gpu-results), eight files (the device tool brings back at most eight):
#   base-256-sdpa.md         every objective with dense masks (XLM-R's attention dropout 0.1), TLM and
#                            the plain HF MLM step; then each row's top GPU kernels (--profile)
#   base-256-flex.md         MMLM, CAMLM and BTMLM with FlexAttention block masks (attention dropout 0:
#                            the FlexAttention path of transformers has none; BTMLM switches between
#                            eval and train mode every step, which transformers' compiled flex path
#                            may answer by compiling again)
#   base-256-sdpa-nodrop.md  MMLM and CAMLM with dense masks, attention dropout 0: flex's comparison
#   tests-gpu.txt            tests/gpu: bf16 leak property, padding, FlexAttention = SDPA with gradients,
#                            a training step that never waits for the GPU, a short pre-training run
#   base-512-flex.md, base-512-sdpa-nodrop.md   the same comparison at 512 tokens
#   base-256-compiled.md     MMLM and CAMLM, dense masks, encoder layers compiled (train.compile)
#   console.txt              what this script printed
set -u
out=${OUT:-gpu-results}
mkdir -p "$out"
export PYTHONPATH="$PWD/src:$PWD/benchmarks" PYTHONUNBUFFERED=1
deadline=$((SECONDS + ${GPU_CHECK_SECONDS:-570}))

# part NAME LIMIT COMMAND...: run COMMAND into $out/NAME for at most LIMIT seconds, less if the deadline is nearer.
part() {
    local name=$1 limit=$2 left=$((deadline - SECONDS))
    shift 2
    [ "$left" -lt "$limit" ] && limit=$left
    if [ "$limit" -lt 20 ]; then
        echo "skipped $name: out of time"
        return
    fi
    echo "== $name (at most $limit s)"
    timeout -k 10 "$limit" "$@" >"$out/$name" 2>&1
    echo "exit $?"
    grep -E '^(\||[a-z-]+: [0-9,]+ tokens/s)|passed|failed|Error' "$out/$name" | tail -12
}

python=${PYTHON:-python3}
base=("$python" benchmarks/objective_step.py --size base --steps 10 --warmup 3)
at256=(--length 256 --batch 64)
at512=(--length 512 --batch 32)
nodrop=(--attention-dropout 0)
pair=(--rows mmlm,camlm)
{
    "$python" -c "import torch, transformers; print(torch.__version__, transformers.__version__, torch.cuda.get_device_name() if torch.cuda.is_available() else 'no CUDA device')"
    part base-256-sdpa.md 100 "${base[@]}" "${at256[@]}" --rows mmlm,tlm,camlm,btmlm,hf-mlm --attention sdpa --profile
    part base-256-flex.md 150 "${base[@]}" "${at256[@]}" "${nodrop[@]}" --rows mmlm,camlm,btmlm --attention flex_attention
    part base-256-sdpa-nodrop.md 45 "${base[@]}" "${at256[@]}" "${nodrop[@]}" "${pair[@]}" --attention sdpa
    part tests-gpu.txt 120 "$python" -m pytest -q -p no:cacheprovider tests/gpu
    part base-512-flex.md 90 "${base[@]}" "${at512[@]}" "${nodrop[@]}" "${pair[@]}" --attention flex_attention
    part base-512-sdpa-nodrop.md 45 "${base[@]}" "${at512[@]}" "${nodrop[@]}" "${pair[@]}" --attention sdpa
    part base-256-compiled.md 90 "${base[@]}" "${at256[@]}" "${pair[@]}" --attention sdpa --compile
} 2>&1 | tee "$out/console.txt"
