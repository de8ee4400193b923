"""Throughput of the data pipeline (catalogs -> token shards -> batches) against the trainer that consumes it.

    python benchmarks/data_pipeline.py [--tokenizer DIR] [--config configs/tiny.yaml]
        [--max-pairs N] [--batches 200] [--steps 10] [--warmup 3]

Preparation: reading the system catalogs (en-X for de, fr, es, ru, zh, it), fingerprinting the
corpus, tokenising it in-process (`tokenize_corpus`) and into shards with 1 and 2 worker processes
(`write_shards`, pool start-up and file writing included), and opening the shards (`read_shards`).

Loader against trainer, at the config's batch size and max_length: the loader is `ExampleSampler`
over the memory-mapped shards plus the objective's `build_batch` (BTMLM's without its generation
pass, which is model work: random tokens stand in for the pseudo translation); the trainer is
`Trainer.train_step` of loop.py on a new model of the config's size (batch building, BTMLM
generation, forward, loss, backward, clip, AdamW), fp32 on CPU. A stage's row mixes its
objectives in the config's proportions. Both are measured with packing (several sequences to a
row, `data.packing`) and with one sequence a row, with the share of padding in the batches.
Targets: loader >= 20x trainer; padding <= 10% of the tokens with packing.

Without --tokenizer, a tokenizer of the config's vocabulary is trained on the corpus first (about 20 s).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from measure import Clock

from ernie_m.config import Config, StageConfig, load_config
from ernie_m.data.catalogs import read_system_catalogs
from ernie_m.data.corpus import TextCorpus
from ernie_m.data.shards import read_shards, shard_fingerprint, write_shards
from ernie_m.data.tokenized import TokenizedCorpus, tokenize_corpus
from ernie_m.data.tokenizer import load_tokenizer, train_tokenizer
from ernie_m.model import new_model
from ernie_m.objectives import OBJECTIVES, btmlm
from ernie_m.objectives.batch import Batch, BatchContext
from ernie_m.objectives.layout import SpecialIds
from ernie_m.train import distributed
from ernie_m.train.loop import Trainer
from ernie_m.train.optim import build_optimizer, build_scheduler
from ernie_m.train.sampler import ExampleSampler

LANGUAGES = ["de", "fr", "es", "ru", "zh", "it"]
ROOT = Path(__file__).resolve().parents[1]
TARGET_RATIO = 20
TARGET_PADDING = 0.10


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokenizer", type=Path, help="a tokenizer directory (default: train one on the corpus)")
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "tiny.yaml")
    parser.add_argument("--max-pairs", type=int, help="pairs per language (default: all the catalogs have)")
    parser.add_argument("--batches", type=int, default=200, help="timed loader batches per objective")
    parser.add_argument("--steps", type=int, default=10, help="timed trainer steps per objective")
    parser.add_argument("--warmup", type=int, default=3, help="untimed trainer steps before them")
    return parser.parse_args(argv)


# --- preparation: catalogs, fingerprint, tokenising, shards ---------------------------------


def preparation(args: argparse.Namespace, config: Config, work: Path) -> tuple[list[tuple], TokenizedCorpus, object]:
    """Rows (step, what, result, other load) and the shards' corpus and tokenizer for the loader."""
    with Clock() as clock:
        corpus = read_system_catalogs(LANGUAGES, max_pairs_per_language=args.max_pairs)
    pairs = sum(len(p) for p in corpus.pairs.values())
    rows = [
        ("catalogs", f"read {','.join(LANGUAGES)}: {pairs:,} en-X pairs", f"{clock.seconds:.1f} s", clock.other_load)
    ]
    tokenizer_dir = args.tokenizer or trained_tokenizer(corpus, config, work / "tokenizer")
    tokenizer = load_tokenizer(tokenizer_dir)
    max_tokens, sentences = config.data.max_length - 2, 2 * pairs + sum(len(m) for m in corpus.mono.values())
    with Clock() as clock:
        shard_fingerprint(corpus, tokenizer_dir, max_tokens, config.data.mono_from_parallel)
    rows.append(
        ("fingerprint", f"{sentences:,} sentences + tokenizer files", f"{clock.seconds:.2f} s", clock.other_load)
    )
    with Clock() as clock:
        tokenize_corpus(corpus, tokenizer, max_tokens, config.data.mono_from_parallel)
    rows.append(("tokenise", "tokenize_corpus, in-process", rate(sentences, clock, "sentences"), clock.other_load))
    for workers in (1, 2):
        with Clock() as clock:
            shards = write_shards(
                corpus, tokenizer_dir, work / f"shards-{workers}", max_tokens, config.data.mono_from_parallel, workers
            )
        what = f"write_shards, {workers} worker{'s' * (workers > 1)} (start-up and writing included)"
        rows.append(("tokenise", what, rate(sentences, clock, "sentences"), clock.other_load))
    with Clock() as clock:
        tokenized = read_shards(shards)
    tokens = sum(a.num_tokens() for a in tokenized.mono.values()) + sum(
        a.num_tokens() + b.num_tokens() for a, b in tokenized.pairs.values()
    )
    rows.append(
        ("read", f"read_shards: {tokens:,} tokens, memory-mapped", f"{1000 * clock.seconds:.1f} ms", clock.other_load)
    )
    return rows, tokenized, tokenizer


def trained_tokenizer(corpus: TextCorpus, config: Config, out_dir: Path) -> Path:
    print(f"training a {config.tokenizer.vocab_size}-piece tokenizer ...", file=sys.stderr, flush=True)
    sentences = [text for pairs in corpus.pairs.values() for pair in pairs for text in pair]
    train_tokenizer(sentences, out_dir, config.tokenizer.vocab_size, config.train.seed, config.tokenizer.max_sentences)
    return out_dir


def rate(count: int, clock: Clock, unit: str) -> str:
    return f"{count / clock.seconds:,.0f} {unit}/s ({clock.seconds:.1f} s)"


# --- loader against trainer -------------------------------------------------------------------


@dataclasses.dataclass
class Throughput:
    tokens: float
    seconds: float
    other_load: float
    slots: float = float("nan")  # rows x length of the batches: real tokens plus padding

    @property
    def per_second(self) -> float:
        return self.tokens / self.seconds

    @property
    def padding(self) -> float:
        return 1 - self.tokens / self.slots


@dataclasses.dataclass(frozen=True)
class Setup:
    """What the loader and the trainer share."""

    specials: SpecialIds
    language_ids: dict[str, int]
    parallel_languages: tuple[str, ...]
    context: BatchContext  # the objectives' context for the loader (no generator: BTMLM's generation is skipped)


def loader(name: str, tokenized: TokenizedCorpus, setup: Setup, config: Config, batches: int) -> Throughput:
    """Sampler draws plus the objective's batch building, `batches` times."""
    sampler = ExampleSampler(tokenized, setup.language_ids, config.data.alpha, config.train.seed)
    build = btmlm_batches if name == "btmlm" else OBJECTIVES[name].build_batch
    rng, tokens, slots = np.random.default_rng(config.train.seed), 0, 0
    with Clock() as clock:
        for _ in range(batches):
            examples = sampler.draw(OBJECTIVES[name].data, config.train.batch_size, rng)
            batch = build(examples, setup.context, rng)
            tokens, slots = tokens + batch.num_tokens(), slots + batch.input_ids.numel()
    return Throughput(tokens, clock.seconds, clock.other_load, slots)


def btmlm_batches(examples: list[tuple], ctx: BatchContext, rng: np.random.Generator) -> Batch:
    """`btmlm.build_batch` without its generation pass (the model's forward and the decoding of its logits):
    both batches are built, random tokens standing in for the pseudo translation."""
    languages = [lang for _, lang in examples]
    targets = btmlm.choose_targets(languages, btmlm.target_ids(ctx), rng)
    sources, lengths = zip(*(btmlm.fit_to_budget(tokens, ctx) for tokens, _ in examples), strict=True)
    btmlm.generation_batch(sources, lengths, languages, targets, ctx)
    pseudo = [ctx.specials.random_tokens(rng, k) for k in lengths]
    return btmlm.training_batch(sources, languages, pseudo, targets, ctx, rng)


def trainer_throughputs(
    tokenized: TokenizedCorpus, setup: Setup, config: Config, args: argparse.Namespace, work: Path
) -> dict[str, Throughput]:
    """`Trainer.train_step` of a new model, each objective alone for warmup + steps steps."""
    stages = tuple(StageConfig(name, args.warmup + args.steps, {name: 1.0}) for name in OBJECTIVES)
    config = dataclasses.replace(config, stages=stages)
    torch.manual_seed(config.train.seed)
    model = new_model(config.model, setup.specials.vocab_size, tokenized.languages(), config.data.max_length)
    optimizer = build_optimizer(model, config.train)
    trainer = Trainer(
        config=config,
        model=model,
        optimizer=optimizer,
        scheduler=build_scheduler(optimizer, config.train, config.total_steps),
        sampler=ExampleSampler(tokenized, setup.language_ids, config.data.alpha, config.train.seed),
        specials=setup.specials,
        language_ids=setup.language_ids,
        parallel_languages=setup.parallel_languages,
        dist=distributed.Context(rank=0, world_size=1, device=torch.device("cpu")),
        out_dir=work,
    )
    results, step = {}, 0
    for name in OBJECTIVES:
        for _ in range(args.warmup):
            step += 1
            trainer.train_step(step)
        trainer.tokens = 0
        with Clock() as clock:
            for _ in range(args.steps):
                step += 1
                trainer.train_step(step)
        results[name] = Throughput(trainer.tokens, clock.seconds, clock.other_load)
    return results


def mixed(throughputs: dict[str, Throughput], weights: dict[str, float]) -> Throughput:
    """A stage's throughput, objective i drawn with probability ~ weights[i]. Every objective was measured
    over the same number of batches, so weighted sums of the totals give the expected mix."""
    tokens = sum(w * throughputs[name].tokens for name, w in weights.items())
    seconds = sum(w * throughputs[name].seconds for name, w in weights.items())
    slots = sum(w * throughputs[name].slots for name, w in weights.items())
    return Throughput(tokens, seconds, max(throughputs[name].other_load for name in weights), slots)


def loader_rows(
    tokenized: TokenizedCorpus, tokenizer, config: Config, args: argparse.Namespace, work: Path
) -> list[tuple]:
    """Rows (name, loader, trainer, loader one sequence a row, trainer one a row) per objective and
    per stage of the config: the loader and the trainer with packing (data.packing) and without."""
    specials = SpecialIds.from_tokenizer(tokenizer)
    language_ids = {lang: i + 1 for i, lang in enumerate(tokenized.languages())}  # new_model's numbering
    parallel = tuple(tokenized.parallel_languages())
    columns = []
    for packing in (True, False):
        context = BatchContext(
            specials, config.objectives, config.data.max_length, None, language_ids, parallel, packing=packing
        )
        setup = Setup(specials, language_ids, parallel, context)
        print(
            f"timing the loader and the trainer, packing {'on' if packing else 'off'} ...", file=sys.stderr, flush=True
        )
        packed_config = dataclasses.replace(config, data=dataclasses.replace(config.data, packing=packing))
        columns.append({name: loader(name, tokenized, setup, config, args.batches) for name in OBJECTIVES})
        columns.append(trainer_throughputs(tokenized, setup, packed_config, args, work))
    rows = [(name, *(column[name] for column in columns)) for name in OBJECTIVES]
    for stage in config.stages:
        weights = {name: w for name, w in stage.objectives.items() if w > 0}
        rows.append((f"stage {stage.name} ({' + '.join(weights)})", *(mixed(column, weights) for column in columns)))
    return rows


def ratio(load: Throughput, train: Throughput) -> float:
    return load.per_second / train.per_second


# --- output -----------------------------------------------------------------------------------


def markdown(header: tuple[str, ...], rows: list[tuple]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    lines += [
        "| " + " | ".join(f"{cell:.2f}" if isinstance(cell, float) else str(cell) for cell in row) + " |"
        for row in rows
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    config = load_config(args.config)
    with tempfile.TemporaryDirectory() as work:
        preparation_rows, tokenized, tokenizer = preparation(args, config, Path(work))
        objective_rows = loader_rows(tokenized, tokenizer, config, args, Path(work))
    size = config.model
    print(f"- CPU: {os.cpu_count()} cores, torch threads {torch.get_num_threads()}; fp32")
    model = f"model {size.num_hidden_layers} layers x {size.hidden_size}, vocab {len(tokenizer)}"
    print(
        f"- config: {args.config.name}: {model}, batch {config.train.batch_size} x max_length {config.data.max_length}"
    )
    print("- other load: cores used by other processes during the measurement; near 0, or the figure suffers\n")
    print(markdown(("step", "what", "result", "other load"), preparation_rows))
    print()
    cells = [
        (
            name,
            f"{load.padding:.1%}",
            f"{load.per_second:,.0f}",
            f"{train.per_second:,.0f}",
            f"{ratio(load, train):.0f}x",
            f"{alone.padding:.1%}",
            f"{train_alone.per_second:,.0f}",
            f"{train.per_second / train_alone.per_second:.2f}x",
            max(load.other_load, train.other_load, alone.other_load, train_alone.other_load),
        )
        for name, load, train, alone, train_alone in objective_rows
    ]
    print(
        markdown(
            (
                "objective",
                "padding",
                "loader tokens/s",
                "trainer tokens/s",
                "loader / trainer",
                "padding, one a row",
                "trainer tokens/s, one a row",
                "packing speed-up",
                "other load",
            ),
            cells,
        )
    )
    short = [name for name, load, train, *_ in objective_rows if ratio(load, train) < TARGET_RATIO]
    print(
        f"\nTarget loader >= {TARGET_RATIO}x trainer: "
        + (f"MISSED by {', '.join(short)}" if short else "met by every row")
    )
    padded = [name for name, load, *_ in objective_rows if load.padding > TARGET_PADDING]
    print(
        f"Target padding <= {TARGET_PADDING:.0%} of the tokens, packed: "
        + (f"MISSED by {', '.join(padded)}" if padded else "met by every row")
    )
    loads = [row[-1] for row in preparation_rows + cells]
    if max(loads) > 0.25:
        print(
            "WARNING: other processes used the CPU during the measurements: rows with other load above 0.25 are not "
            "reliable."
        )


if __name__ == "__main__":
    main(sys.argv[1:])
