"""Throughput of one training step per ERNIE-M objective, against a plain Hugging Face MLM step.

    python benchmarks/objective_step.py [--size base|large | --layers 4 --hidden 256 --heads 4 --vocab 32000]
        [--batch 32 --length 128 --steps 10 --warmup 3 --device auto --attention sdpa --compile --peak-tflops X]
        [--rows mmlm,tlm,camlm,btmlm,hf-mlm --profile --out FILE.json]

Rows: `mmlm`, `tlm`, `camlm`, `btmlm` (generation included) and `hf-mlm`: the `XLMRobertaForMaskedLM`
inside our model (same size, same initial weights) called the standard way, 2-D padding mask,
full-vocabulary logits and their log-softmax at every position (what its loss computes and keeps),
on the very MMLM batches (same tokens, same labels).
Every sequence is `--length` tokens, so all rows train on the same token budget. A step is the
trainer's own (`Trainer.train_step`, drawing random token ids instead of a corpus's): build the
batch, forward, loss, backward, clip, AdamW, learning-rate schedule.

Each row runs in a fresh process (this script re-invoked with `--only NAME`), so that its peak
memory is its own: on CPU the growth of `ru_maxrss` over the process's size after model
creation, on CUDA `torch.cuda.max_memory_allocated`.

MFU (model FLOPs utilisation): the FLOPs that training the batch needs, whatever computes them,
over the step's time and the device's peak. Counted per real token as 6 x the encoder's
parameters (embeddings excluded) + 12 x layers x hidden x sequence length (attention scores and
values), plus 6 x (hidden^2 + hidden x vocab) per predicted token (the MLM head); BTMLM's
generation pass is not counted, so its MFU understates its work; nor is the HF step's head at
every position, which that step computes but the task does not need (on CUDA every row waits for
the GPU once a step, at the trainer's finite-gradient check, and that step once more:
transformers checks its 2-D padding mask on the host). The peak: `--peak-tflops`, else
the bf16 dense peak of known GPUs (H100/H200 989, A100 312 TFLOPs), else on CPU the best float32
matrix product of 20 (measured once before the rows: an achievable peak, not a datasheet one).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import transformers
from measure import busy_elsewhere, cpu_name

from ernie_m.config import Config, ModelConfig, StageConfig
from ernie_m.device import pick_device
from ernie_m.model import ErnieM, compile_layers, new_model
from ernie_m.objectives import OBJECTIVES
from ernie_m.objectives.batch import Batch
from ernie_m.objectives.layout import FIRST_POSITION, SpecialIds
from ernie_m.train import distributed
from ernie_m.train.loop import Trainer
from ernie_m.train.optim import build_optimizer, build_scheduler

MEASUREMENTS = ("mmlm", "tlm", "camlm", "btmlm", "hf-mlm")
SIZES = {"base": (12, 768, 12, 250_002), "large": (24, 1024, 16, 250_002)}  # layers, hidden, heads, vocabulary
GPU_PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0}  # bf16 dense
LANGUAGES = ("de", "fr", "es", "ru", "zh", "it")  # language ids 1..6; 0 is "no language"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=tuple(SIZES), help="XLM-R base or large (sets layers, hidden, heads, vocab)")
    parser.add_argument(
        "--attention", choices=("sdpa", "eager", "flex_attention"), default="sdpa", help="model.attn_implementation"
    )
    parser.add_argument(
        "--attention-dropout",
        type=float,
        default=0.1,
        help="attention-probability dropout (XLM-R's 0.1; flex_attention needs 0)",
    )
    parser.add_argument("--compile", action="store_true", help="torch.compile each encoder layer (train.compile)")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="after timing, profile two more steps and print the top operators to stderr",
    )
    parser.add_argument("--peak-tflops", type=float, help="the device's peak, for MFU (default: see the docstring)")
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--vocab", type=int, default=32000)
    parser.add_argument("--batch", type=int, default=32, help="sequences per step")
    parser.add_argument("--length", type=int, default=128, help="tokens per sequence, special tokens included")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per row")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps before them")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--out", type=Path, help="also write context and rows as JSON")
    parser.add_argument(
        "--rows",
        default=",".join(MEASUREMENTS),
        help="which rows, comma-separated (a ratio column is left empty without the row it compares with)",
    )
    parser.add_argument("--only", choices=MEASUREMENTS, help=argparse.SUPPRESS)  # one row, in this process
    args = parser.parse_args(argv)
    requested = set(args.rows.split(","))
    if requested - set(MEASUREMENTS):
        parser.error(f"--rows: unknown {sorted(requested - set(MEASUREMENTS))}; choose from {','.join(MEASUREMENTS)}")
    args.rows = [name for name in MEASUREMENTS if name in requested]
    if args.steps < 1 or args.warmup < 0 or args.length < 8:
        parser.error("need --steps >= 1, --warmup >= 0 and --length >= 8")
    if args.attention == "flex_attention" and args.attention_dropout > 0:
        parser.error(
            "flex_attention has no attention dropout in transformers: pass --attention-dropout 0 (and the same to "
            "the sdpa run it is compared with)"
        )
    if args.size:
        args.layers, args.hidden, args.heads, args.vocab = SIZES[args.size]
    return args


# --- one row, in its own process --------------------------------------------------------------


def random_examples(name: str, args: argparse.Namespace, rng: np.random.Generator) -> list[tuple]:
    """Examples whose sequences are exactly `args.length` tokens once the special tokens are added.

    Mono: `<s> x </s>`, x of length-2. Pairs: `<s> a </s></s> b </s>`, a and b of (length-4)//2.
    BTMLM: a source of (length-4)//2 and as many generated tokens, laid out like a pair.
    """
    specials = make_specials(args.vocab)

    def tokens(n: int) -> np.ndarray:
        return specials.random_tokens(rng, n).astype(np.int64)

    def languages() -> tuple[int, int]:
        first, second = rng.choice(len(LANGUAGES), size=2, replace=False) + 1
        return int(first), int(second)

    side = (args.length - 4) // 2
    examples = []
    for _ in range(args.batch):
        lang, other = languages()
        if name == "btmlm":
            examples.append((tokens(side), lang))
        elif OBJECTIVES[objective_of(name)].data == "mono":
            examples.append((tokens(args.length - 2), lang))
        else:
            examples.append((tokens(side), lang, tokens(side), other))
    return examples


def source_tokens(name: str, args: argparse.Namespace) -> int:
    """Tokens of a step's source sentences (as `random_examples` draws them): a pair's first side (the
    second is its translation), a mono example's sentence. BTMLM's generated tokens stand where a TLM
    pair's second side stands."""
    mono = name != "btmlm" and OBJECTIVES[objective_of(name)].data == "mono"
    return args.batch * (args.length - 2 if mono else (args.length - 4) // 2)


def objective_of(name: str) -> str:
    return "mmlm" if name == "hf-mlm" else name


def make_specials(vocab_size: int) -> SpecialIds:
    return SpecialIds(cls=0, pad=1, sep=2, unk=3, mask=vocab_size - 1, vocab_size=vocab_size)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass
class RandomExamples:
    """The trainer's sampler, drawing `random_examples` of the row's objective instead of a corpus's."""

    name: str
    args: argparse.Namespace

    def draw(self, kind: str, count: int, rng: np.random.Generator) -> list[tuple]:
        return random_examples(self.name, self.args, rng)


class StandardMaskedLM(torch.nn.Module):
    """The hf-mlm row's model: the XLMRobertaForMaskedLM inside ours called the standard way, a 2-D
    padding mask, logits over the vocabulary at every position and their log-softmax, which the
    standard loss (cross-entropy over all positions, padding ignored) computes and keeps for the
    backward pass. The predicted positions' rows go to the trainer's loss: the same value."""

    def __init__(self, model: ErnieM):
        super().__init__()
        self.module = model  # what the trainer unwraps, as it unwraps DistributedDataParallel

    def forward(self, batch: Batch) -> torch.Tensor:
        padding_mask = (batch.position_ids >= FIRST_POSITION).long()
        logits = self.module.mlm(batch.input_ids, attention_mask=padding_mask).logits
        log_probs = torch.log_softmax(logits.float(), dim=-1)  # log-softmax again in the loss: unchanged
        return log_probs.flatten(0, 1).index_select(0, batch.predict_index)


class MeasuredTrainer(Trainer):
    """The trainer, keeping the last batch it built (its real and predicted tokens are counted)."""

    last_batch: Batch | None = None

    def build_batch(self, name: str, rng: np.random.Generator) -> Batch:
        self.last_batch = super().build_batch(name, rng)
        return self.last_batch


def trainer_for(name: str, model: ErnieM, args: argparse.Namespace, device: torch.device, out_dir: Path):
    """A trainer of `model` on the row's objective alone, batches of `args.batch` random examples."""
    objective = objective_of(name)
    base = Config()
    config = dataclasses.replace(
        base,
        data=dataclasses.replace(base.data, max_length=args.length),
        stages=(StageConfig(objective, args.warmup + args.steps + 2, {objective: 1.0}),),
        train=dataclasses.replace(base.train, batch_size=args.batch, seed=args.seed, grad_accum=1),
    )
    optimizer = build_optimizer(model, config.train)
    return MeasuredTrainer(
        config=config,
        model=StandardMaskedLM(model) if name == "hf-mlm" else model,
        optimizer=optimizer,
        scheduler=build_scheduler(optimizer, config.train, config.total_steps),
        sampler=RandomExamples(name, args),
        specials=make_specials(args.vocab),
        language_ids={lang: model.language_id(lang) for lang in LANGUAGES},
        parallel_languages=LANGUAGES,
        dist=distributed.Context(rank=0, world_size=1, device=device),
        out_dir=out_dir,
    )


def measure(name: str, args: argparse.Namespace) -> dict:
    """One row: a fresh model, warm-up, then `args.steps` timed steps; the median step gives the figures."""
    device = pick_device(args.device)
    torch.manual_seed(args.seed)  # the initial weights; the trainer seeds each step's randomness
    size = ModelConfig(
        hidden_size=args.hidden,
        num_hidden_layers=args.layers,
        num_attention_heads=args.heads,
        intermediate_size=4 * args.hidden,
        attention_probs_dropout_prob=args.attention_dropout,
        attn_implementation=args.attention,
    )
    model = new_model(size, args.vocab, list(LANGUAGES), args.length).to(device).train()
    if args.compile:
        compile_layers(model)
    rss_after_model_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    with tempfile.TemporaryDirectory() as scratch:  # the trainer's output folder; nothing is written
        row = timed_steps(name, model, args, device, Path(scratch))
    encoder = sum(p.numel() for p in model.mlm.roberta.encoder.parameters())
    row["tflops_per_s"] = model_flops(row, encoder, args) / (row["ms_per_step"] / 1000) / 1e12
    row["mfu"] = row["tflops_per_s"] / peak_tflops(device, args)
    if device.type == "cuda":
        row["peak_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    else:
        row["peak_mb"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_after_model_kb) / 1024
    return row


def model_flops(row: dict, encoder_parameters: int, args: argparse.Namespace) -> float:
    """The FLOPs training one step's batch needs (see the docstring)."""
    per_token = 6 * encoder_parameters + 12 * args.layers * args.hidden * args.length
    head = 6 * (args.hidden**2 + args.hidden * args.vocab)
    return row["tokens_per_step"] * per_token + row["predicted_per_step"] * head


def peak_tflops(device: torch.device, args: argparse.Namespace) -> float:
    if args.peak_tflops:
        return args.peak_tflops
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for model, peak in GPU_PEAK_TFLOPS.items():
            if model in name:
                return peak
        raise SystemExit(f"no known peak for {name}: pass --peak-tflops")
    return measured_gemm_tflops()


def measured_gemm_tflops(size: int = 2048, repeats: int = 20) -> float:
    """The best float32 throughput of a size^3 matrix product over `repeats` tries: this CPU's achievable peak."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e12


def timed_steps(name: str, model: ErnieM, args: argparse.Namespace, device: torch.device, scratch: Path) -> dict:
    """`Trainer.train_step`, warm-up then timed; the same seeds give mmlm and hf-mlm the same batches."""
    trainer = trainer_for(name, model, args, device, scratch)
    seconds = []
    for step in range(1, args.warmup + args.steps + 1):
        if step == args.warmup + 1:
            synchronize(device)
            wall_before, others_before = time.perf_counter(), busy_elsewhere()
        start = time.perf_counter()
        trainer.train_step(step)
        seconds.append(time.perf_counter() - start)
    batch = trainer.last_batch
    synchronize(device)
    wall_after, others_after = time.perf_counter(), busy_elsewhere()
    if args.profile:
        more = iter(range(args.warmup + args.steps + 1, args.warmup + args.steps + 3))
        print_profile(name, lambda: trainer.train_step(next(more)), device)
    other_load = (others_after - others_before) / (wall_after - wall_before)
    if other_load < 0:  # /proc/stat counts in 10 ms ticks: a short window can come out slightly negative
        other_load = 0.0

    # CPU: each step's own time (the median resists a noisy machine). CUDA: the mean over the window,
    # since the host builds the next batch while the GPU still runs the last step, as in the trainer.
    timed = seconds[args.warmup :] if device.type == "cpu" else [(wall_after - wall_before) / args.steps] * args.steps
    step_s = statistics.median(timed)
    return {
        "objective": name,
        "tokens_per_step": batch.num_tokens(),
        "predicted_per_step": len(batch.predict_index),
        "source_tokens_per_step": source_tokens(name, args),
        "ms_per_step": 1000 * step_s,
        "ms_per_step_min_max": [1000 * min(timed), 1000 * max(timed)] if device.type == "cpu" else None,
        "tokens_per_s": batch.num_tokens() / step_s,
        "other_load_cores": other_load,
    }


def print_profile(name: str, step, device: torch.device, steps: int = 2) -> None:
    """The operators that took the most time over `steps` more steps (after the timed ones), to stderr."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        for _ in range(steps):
            step()
        synchronize(device)
    key = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    print(f"\n{name}: {steps} steps, by {key}\n{prof.key_averages().table(sort_by=key, row_limit=15)}", file=sys.stderr)


# --- all rows, and the table ------------------------------------------------------------------


def run_all(argv: list[str], args: argparse.Namespace) -> list[dict]:
    """Every row in a fresh child process; adds the ratios that compare the rows. On CPU the peak for
    MFU is measured once, here, and handed to every row."""
    if not args.peak_tflops and pick_device(args.device).type == "cpu":
        args.peak_tflops = measured_gemm_tflops()
        argv = [*argv, "--peak-tflops", str(args.peak_tflops)]
    rows = []
    for name in args.rows:
        print(f"measuring {name} ...", file=sys.stderr, flush=True)
        child = subprocess.run(
            [sys.executable, __file__, *argv, "--only", name], stdout=subprocess.PIPE, text=True, check=True
        )
        rows.append(json.loads(child.stdout.splitlines()[-1]))
        # each row as it comes: a run cut short keeps what it measured
        print(
            f"{name}: {rows[-1]['tokens_per_s']:,.0f} tokens/s, {rows[-1]['ms_per_step']:,.1f} ms/step, MFU "
            f"{rows[-1]['mfu']:.1%}",
            file=sys.stderr,
            flush=True,
        )
    by_name = {row["objective"]: row for row in rows}
    mmlm, tlm, hf = (by_name.get(name) for name in ("mmlm", "tlm", "hf-mlm"))
    for row in rows:
        row["tokens_per_s_vs_mmlm"] = mmlm and row["tokens_per_s"] / mmlm["tokens_per_s"]
        row["time_per_token_vs_tlm"] = tlm and tlm["tokens_per_s"] / row["tokens_per_s"]
        row["time_per_source_token_vs_tlm"] = tlm and (row["ms_per_step"] / row["source_tokens_per_step"]) / (
            tlm["ms_per_step"] / tlm["source_tokens_per_step"]
        )
        row["speedup_vs_hf_mlm"] = hf and row["tokens_per_s"] / hf["tokens_per_s"]
    return rows


def context(args: argparse.Namespace) -> dict:
    device = pick_device(args.device)
    if device.type == "cuda":
        device_name = torch.cuda.get_device_name(device)
        memory = "torch.cuda.max_memory_allocated (weights, optimizer state, activations), one fresh process per row"
    else:
        device_name = cpu_name()
        memory = "CPU: growth of ru_maxrss over the process's size after model creation, one fresh process per row"
    return {
        "device": f"{device.type}: {device_name}",
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "threads": torch.get_num_threads(),
        "precision": "bf16 autocast" if device.type == "cuda" else "fp32",
        "model": f"{args.layers} layers, hidden {args.hidden}, {args.heads} heads, FFN {4 * args.hidden}, "
        + f"vocab {args.vocab}, attention {args.attention}, attention dropout {args.attention_dropout:g}"
        + (", layers compiled" if args.compile else ""),
        "batch": f"{args.batch} x {args.length} tokens; BTMLM sources of {(args.length - 4) // 2} tokens",
        "timing": (
            f"median of {args.steps} steps" if device.type == "cpu" else f"mean over a window of {args.steps} steps"
        )
        + f" after {args.warmup} warm-up; a step includes building the batch",
        "peak memory": memory,
    }


COLUMNS = (
    "objective", "tokens/s", "ms/step (min-max)", "peak MB", "TFLOP/s", "MFU",
    "vs MMLM (tokens/s)", "vs TLM (time/token)", "vs TLM (time/source token)", "vs hf-mlm (speed-up)",
    "other load (cores)",
)  # fmt: skip


RATIOS = ("tokens_per_s_vs_mmlm", "time_per_token_vs_tlm", "time_per_source_token_vs_tlm", "speedup_vs_hf_mlm")


def markdown(rows: list[dict]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|---" + "|---:" * (len(COLUMNS) - 1) + "|"]
    for row in rows:
        spread = row["ms_per_step_min_max"]
        cells = (
            row["objective"],
            f"{row['tokens_per_s']:,.0f}",
            f"{row['ms_per_step']:,.0f}" + (f" ({spread[0]:,.0f}-{spread[1]:,.0f})" if spread else ""),
            f"{row['peak_mb']:,.0f}",
            f"{row['tflops_per_s']:.2f}",
            f"{row['mfu']:.1%}",
            *(f"{row[key]:.2f}x" if row[key] is not None else "-" for key in RATIOS),
            f"{row['other_load_cores']:.2f}",
        )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    if args.only:
        print(json.dumps(measure(args.only, args)))
        return
    rows = run_all(argv, args)
    about = {**context(args), "peak for MFU": f"{peak_tflops(pick_device(args.device), args):.3f} TFLOP/s"}
    for key, value in about.items():
        print(f"- {key}: {value}")
    print(
        "- source tokens: a pair's first side, a monolingual sentence (BTMLM's pseudo tokens stand where TLM's "
        "second side does)"
    )
    print(
        "- other load: CPU cores taken during the timed steps by other processes or VMs; near 0, or the figures "
        "suffer\n"
    )
    print(markdown(rows))
    contended = [row["objective"] for row in rows if row["other_load_cores"] > 0.25]
    if contended:
        print(f"\nWARNING: other processes used the CPU during {', '.join(contended)}: those figures are not reliable.")
    if args.out:
        args.out.write_text(json.dumps({"context": about, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
