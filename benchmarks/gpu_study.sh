#!/usr/bin/env bash
# Issue #13's study on one GPU: a base trained with MMLM alone per seed, then the ablation's arms from it,
# at a size a GPU trains in minutes (configs/gpu-study.yaml: 6 layers of 512, bf16), scored on the
# corpus's held-out pairs and XNLI's translated dev sentences; its tables go to $OUT (else gpu-study-results).
# It grows in calls of `ernie-m ablation`, each reusing the runs of the one before and writing its report:
# seed 0 with MMLM and MMLM+CAMLM first, then every arm, then seeds 1 and 2; so the deadline
# (GPU_STUDY_SECONDS, default 540) leaves the tables of every call that finished. Not yet run on a GPU:
# the step counts are a guess, to be sized from the first run's tokens/s.
#
#   here, once:  bash benchmarks/gpu_study.sh prepare    corpus (system catalogs) and tokenizer into runs/gpu-study/
#   on the GPU:  bash benchmarks/gpu_study.sh            device tool: carry ["runs/gpu-study"], timeout_s 600
#   on a CPU:    GPU_STUDY_SIZE=tiny bash benchmarks/gpu_study.sh   the same steps at a toy size (tests run it)
#
# It uses the machine's python3 with the project on PYTHONPATH (PYTHON=... for another); the modules it
# needs are checked first and named when missing. XNLI's files come from $XNLI (default ../shared/data/xnli,
# or shared/data/xnli where the device copies the team's folder); without them only held-out pairs are scored.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
study=${GPU_STUDY_DIR:-$here/runs/gpu-study}
out=${OUT:-gpu-study-results}
python=${PYTHON:-python3}
export PYTHONPATH="$here/src" PYTHONUNBUFFERED=1
ernie_m() { "$python" -c 'from ernie_m.cli import main; main()' "$@"; }

if [ "${1:-}" = prepare ]; then
    rm -rf "$study"  # a corpus built again is another corpus: nothing of the old one is kept
    ernie_m corpus build --out "$study/corpus" --languages de,es,fr,ru,zh,bg,el,tr,nl --mono-only bg,el,tr,nl || exit $?
    "$python" -c 'import sys; from pathlib import Path; from ernie_m.config import load_config; from ernie_m.experiments.inputs import corpus_tokenizer
config = load_config(Path(sys.argv[1])); corpus_tokenizer(Path(sys.argv[2]), config.tokenizer, config.train.seed, Path(sys.argv[3]))' \
        "$here/src/ernie_m/configs/gpu-study.yaml" "$study/corpus" "$study/cache"
    exit $?
fi

deadline=$((SECONDS + ${GPU_STUDY_SECONDS:-540}))
mkdir -p "$out"
"$python" -c 'import torch, transformers, typer, sentencepiece, sklearn, seqeval, safetensors, yaml, matplotlib, tqdm' \
    || { echo "missing Python modules (above): install the project's dependencies first"; exit 2; }
[ -d "$study/corpus/test" ] || { echo "$study/corpus: run 'bash benchmarks/gpu_study.sh prepare' first and carry it"; exit 2; }
xnli=${XNLI:-}
for candidate in "$here/../shared/data/xnli" "$here/shared/data/xnli"; do
    [ -z "$xnli" ] && [ -f "$candidate/dev-en.tsv" ] && xnli=$candidate
done
options=(--config "$here/src/ernie_m/configs/gpu-study.yaml" --corpus "$study/corpus" --cache "$study/cache" --out "$study/ablation"
         --base-steps 2000 --max-steps 2000 --no-progress)
[ -n "$xnli" ] && options+=(--xnli "$xnli")
if [ "${GPU_STUDY_SIZE:-gpu}" = tiny ]; then
    options+=(--base-steps 6 --max-steps 4 --set model.hidden_size=32 --set model.num_hidden_layers=2 --set model.num_attention_heads=2
              --set model.intermediate_size=64 --set tokenizer.vocab_size=64
              --set data.max_length=32 --set train.batch_size=8 --set train.warmup_steps=2 --set train.log_every=2
              --set train.checkpoint_every=4)
fi
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null | tee "$out/device.txt"
status=0
for call in "0 mmlm,mmlm-camlm first" "0 mmlm,mmlm-tlm,mmlm-camlm,mmlm-camlm-btmlm,full seed-0" \
            "0,1 mmlm,mmlm-tlm,mmlm-camlm,mmlm-camlm-btmlm,full seeds-0-1" "0,1,2 mmlm,mmlm-tlm,mmlm-camlm,mmlm-camlm-btmlm,full seeds-0-1-2"; do
    read -r seeds arms name <<<"$call"
    left=$((deadline - SECONDS))
    if [ "$left" -lt 30 ]; then
        echo "stopped before $name: out of time" | tee -a "$out/console.txt"
        break
    fi
    echo "== $name: seeds $seeds, arms $arms (at most $left s)" | tee -a "$out/console.txt"
    start=$SECONDS
    timeout -k 10 "$left" bash -c "$(declare -f ernie_m); python=$python; ernie_m ablation --seeds $seeds --arms $arms $(printf '%q ' "${options[@]}")" \
        >>"$out/console.txt" 2>&1
    status=$?
    echo "exit $status after $((SECONDS - start)) s" | tee -a "$out/console.txt"
    [ "$status" -ne 0 ] && break
    cp "$study/ablation/ablation.md" "$out/ablation-$name.md"
    cp "$study/ablation/ablation.png" "$out/ablation.png"
done
ls "$out"
exit $status
