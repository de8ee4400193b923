"""A pre-training run from start to export: inputs checked, corpus -> tokenizer -> tokenized
corpus -> model -> trainer, resume, and the final Hugging Face model.

    OUT/run.yaml         the settings (config, corpus, init-from): what --resume continues
    OUT/tokenizer/       the tokenizer trained for the run (absent with --init-from)
    OUT/shards/<hash>/   the corpus tokenised once, memory-mapped (see ernie_m.data.shards)
    OUT/log.jsonl        losses per objective, learning rate, tokens/s; checkpoint checksums
    OUT/checkpoints/     step-NNNNNN/ (see ernie_m.train.checkpoint)
    OUT/model/           the final model and tokenizer: transformers.AutoModel.from_pretrained(OUT/model),
                         its model card README.md and ernie_m_run.json (see ernie_m.card)

Bad inputs are found before OUT is created, and a run that fails before its first step removes
the OUT it created, so a refused run leaves nothing behind.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import torch
import yaml
from safetensors import SafetensorError

from ernie_m.card import RUN_SUMMARY, run_card
from ernie_m.config import Config, config_from_dict
from ernie_m.data.build import open_corpus
from ernie_m.data.catalogs import read_system_catalogs
from ernie_m.data.corpus import TextCorpus, read_corpus_dir
from ernie_m.data.shards import corpus_fingerprint, read_shards, shard_key, tokenizer_fingerprint, write_shards
from ernie_m.data.tokenized import TokenizedCorpus, tokenize_corpus
from ernie_m.data.tokenizer import balanced_sample, load_tokenizer, train_tokenizer
from ernie_m.errors import ErnieMError, first_line
from ernie_m.files import copy_directory, write_atomically
from ernie_m.model import (
    compile_layers,
    load_model,
    model_from_config,
    new_model,
    save_pretrained,
    turn_off_attention_dropout,
)
from ernie_m.objectives import registry
from ernie_m.objectives.layout import SpecialIds
from ernie_m.provenance import software
from ernie_m.train import checkpoint, distributed
from ernie_m.train.loop import Trainer
from ernie_m.train.optim import build_optimizer, build_scheduler
from ernie_m.train.report import Reporters, check_reporters
from ernie_m.train.sampler import ExampleSampler

log = logging.getLogger(__name__)
LOSSES_OVER = 5  # logged values per objective averaged for the model card


@dataclasses.dataclass(frozen=True)
class RunSettings:
    """Everything that defines a run; saved as OUT/run.yaml so that --resume needs nothing else."""

    config: Config
    corpus: Path | None = None  # None: the embedded default (system translation catalogs)
    init_from: Path | None = None  # None: a new model of config.model's size
    tokenizer: Path | None = None  # None: the --init-from model's, or one trained on the corpus

    def save(self, path: Path) -> None:
        data = {
            "corpus": _text(self.corpus),
            "init_from": _text(self.init_from),
            "tokenizer": _text(self.tokenizer),
            "config": self.config.to_dict(),
        }
        write_atomically(
            path,
            lambda partial: partial.write_text(
                yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8"
            ),
        )

    @classmethod
    def load(cls, path: Path) -> RunSettings:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
            return cls(
                config_from_dict(data["config"]),
                _path(data["corpus"]),
                _path(data["init_from"]),
                _path(data.get("tokenizer")),
            )
        except (yaml.YAMLError, UnicodeDecodeError, KeyError, TypeError) as error:
            raise ErnieMError(
                f"{path}: not the settings of a run ({first_line(error)}); restore it, or start a new run"
            ) from None


def pretrain(
    settings: RunSettings | None,
    out_dir: Path,
    resume: bool = False,
    stop_at: int | None = None,
    progress: bool = True,
    accept_changed_corpus: bool = False,
) -> Path | None:
    """Run (or resume) pre-training; return OUT/model when the schedule is complete, else None. A resume
    refuses a changed config or tokenizer, and a changed corpus unless `accept_changed_corpus`."""
    out_dir = Path(out_dir)
    settings = _check_out_dir(settings, out_dir, resume)
    dist = distributed.setup(settings.config.train.device)
    try:
        return _pretrain(settings, out_dir, resume, stop_at, progress, dist, accept_changed_corpus)
    finally:
        distributed.cleanup()


def _pretrain(
    settings: RunSettings,
    out_dir: Path,
    resume: bool,
    stop_at: int | None,
    progress: bool,
    dist,
    accept_changed_corpus: bool,
) -> Path | None:
    config = settings.config
    if config.model.attn_implementation == "flex_attention" and dist.device.type != "cuda":
        raise ErnieMError(
            "model.attn_implementation flex_attention trains on CUDA only (PyTorch has no FlexAttention "
            "backward on CPU); use sdpa here"
        )
    # an optional package asked for and absent: refused before anything is written
    check_reporters(config.train.report_to)
    corpus = read_text_corpus(settings)
    if dist.is_main:
        log.info("corpus: %s", _describe(corpus))
    registry.check_schedule(config, corpus)
    if settings.tokenizer is not None:
        load_tokenizer(settings.tokenizer)  # refuse a bad --tokenizer before anything is written
    given = _from_init(settings, corpus)  # (tokenizer, model) of --init-from, else None
    distributed.barrier(dist)  # every rank has checked OUT before the main rank writes to it
    created = dist.is_main and not resume and not (out_dir.exists() and any(out_dir.iterdir()))
    try:
        if dist.is_main and not resume:
            out_dir.mkdir(parents=True, exist_ok=True)
            settings.save(out_dir / "run.yaml")
        trainer, tokenizer = _build_trainer(settings, corpus, given, out_dir, progress, dist)
    except BaseException:
        if created:  # a run refused or interrupted before its first step leaves nothing behind
            shutil.rmtree(out_dir, ignore_errors=True)
        raise
    start = 0
    if resume:
        start = _restore_newest(trainer, out_dir / "checkpoints", dist, accept_changed_corpus)
        if dist.is_main:
            log.info("pretrain: continuing %s from step %d", out_dir, start)
            _truncate_log(out_dir / "log.jsonl", start)
        if start > 0:
            trainer.log_checksums(start, "resumed")
    stop = min(stop_at or config.total_steps, config.total_steps)
    try:
        trainer.run(start, stop, progress)
    finally:
        if trainer.reporters is not None:
            trainer.reporters.close()
    if stop < config.total_steps:
        return None
    weights = distributed.whole_weights(trainer.ernie_m)  # collective under FSDP: every rank takes part
    if dist.is_main:
        summary = run_summary(settings, corpus, trainer.ernie_m, out_dir, dist.world_size)
        texts = {RUN_SUMMARY: json.dumps(summary, indent=1, ensure_ascii=False) + "\n", "README.md": run_card(summary)}
        save_pretrained(trainer.ernie_m, tokenizer, out_dir / "model", weights, texts)
    distributed.barrier(dist)
    return out_dir / "model"


def run_summary(settings: RunSettings, corpus: TextCorpus, model, out_dir: Path, processes: int) -> dict:
    """What the model card says about the run: languages, sizes, schedule, data and final losses."""
    config, hf = settings.config, model.mlm.config
    made_with = software()
    return {
        "name": out_dir.resolve().name,
        "tool": made_with["ernie_m"],
        "software": made_with,
        "languages": model.languages,
        "init_from": settings.init_from and Path(settings.init_from).resolve().name,  # names only: a card is published
        "corpus": settings.corpus and Path(settings.corpus).resolve().name,  # None: the system's translation catalogs
        "data": {
            "pairs": {f"{a}-{b}": len(pairs) for (a, b), pairs in sorted(corpus.pairs.items())},
            "monolingual": {lang: len(lines) for lang, lines in sorted(corpus.mono.items())},
        },
        "model": {
            "layers": hf.num_hidden_layers,
            "hidden": hf.hidden_size,
            "heads": hf.num_attention_heads,
            "intermediate": hf.intermediate_size,
            "vocab_size": hf.vocab_size,
            "parameters": sum(p.numel() for p in model.parameters()),
        },
        "training": {
            "steps": config.total_steps,
            "batch_size": config.train.batch_size,
            "grad_accum": config.train.grad_accum,
            "processes": processes,
            "max_length": config.data.max_length,
            "lr": config.train.lr,
            "warmup_steps": config.train.warmup_steps,
            "seed": config.train.seed,
            "stages": [dataclasses.asdict(stage) for stage in config.stages],
            "objectives": {objective.name: objective.title for objective in registry.used(config)},
        },
        "losses_over": LOSSES_OVER,
        "final_losses": final_losses(out_dir / "log.jsonl"),
        "validation_losses": validation_losses(out_dir / "log.jsonl"),
    }


def final_losses(log_file: Path) -> dict[str, float]:
    """Each objective's mean over its last LOSSES_OVER logged values."""
    logged: dict[str, list[float]] = {}
    for line in log_file.read_text(encoding="utf-8").splitlines() if log_file.is_file() else []:
        for key, value in json.loads(line).items():
            if key.startswith("loss/"):
                logged.setdefault(key.removeprefix("loss/"), []).append(value)
    return {name: sum(values[-LOSSES_OVER:]) / len(values[-LOSSES_OVER:]) for name, values in sorted(logged.items())}


def validation_losses(log_file: Path) -> dict[str, float]:
    """Each objective's loss on the dev split at the last validation (empty: none was run)."""
    last = {}
    for line in log_file.read_text(encoding="utf-8").splitlines() if log_file.is_file() else []:
        record = json.loads(line)
        if record.get("event") == "validation":
            last = {key.removeprefix("val/"): value for key, value in record.items() if key.startswith("val/")}
    return last


def _build_trainer(
    settings: RunSettings, corpus: TextCorpus, given, out_dir: Path, progress: bool, dist
) -> tuple[Trainer, object]:
    """Tokenizer, tokenized corpus, model, optimizer and sampler, assembled into a Trainer."""
    config = settings.config
    tokenizer, model = given or (_trained_tokenizer(settings, corpus, out_dir, dist), None)
    inputs = {
        "config": config.to_dict(),
        "corpus": corpus_fingerprint(corpus),
        "tokenizer": tokenizer_fingerprint(settings.init_from or out_dir / "tokenizer"),
    }
    key = shard_key(inputs["corpus"], inputs["tokenizer"], config.data.max_length - 2, config.data.mono_from_parallel)
    tokenized = _shards(settings, corpus, out_dir, progress, dist, key)
    if model is None:
        model = initial_model(config, len(tokenizer), corpus.languages())
    language_ids = {lang: model.language_id(lang) for lang in tokenized.languages()}
    held = dev_split(settings)
    model.to(dist.device)
    if config.model.attn_implementation == "flex_attention" and (rate := turn_off_attention_dropout(model)) > 0:
        log.warning("flex_attention: attention dropout %g turned off (transformers' FlexAttention path has none)", rate)
    if config.train.activation_checkpointing:
        model.mlm.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    if config.train.compile:
        compile_layers(model)
    model = distributed.wrap(model, dist, config.train.parallel)
    optimizer = build_optimizer(model, config.train)  # after wrapping: FSDP replaces the parameters by shards
    trainer = Trainer(
        config=config,
        model=model,
        optimizer=optimizer,
        scheduler=build_scheduler(optimizer, config.train, config.total_steps),
        sampler=ExampleSampler(
            tokenized, language_ids, config.data.alpha, config.train.seed, dist.rank, dist.world_size
        ),
        specials=SpecialIds.from_tokenizer(tokenizer),
        language_ids=language_ids,
        parallel_languages=tuple(tokenized.parallel_languages()),
        dist=dist,
        out_dir=out_dir,
        watchers=registry.watchers(config, held, tokenizer, language_ids),
        inputs=inputs,
        validation=validation_examples(settings, held, tokenizer, language_ids),
        reporters=Reporters(config.train.report_to, out_dir, config.to_dict())
        if config.train.report_to and dist.is_main
        else None,
    )
    return trainer, tokenizer


VALIDATION_BATCHES = 4  # per objective, of train.batch_size sequences each


def dev_split(settings: RunSettings) -> TextCorpus | None:
    """The held-out dev split of a built corpus; None without one (the catalogs, a user folder, a corpus
    too small to hold pairs out)."""
    dev = Path(settings.corpus) / "dev" if settings.corpus is not None else None
    if dev is None or not dev.is_dir() or not any(dev.iterdir()):
        return None
    return read_corpus_dir(dev)


def validation_examples(
    settings: RunSettings, held: TextCorpus | None, tokenizer, language_ids: dict[str, int]
) -> dict[str, list[list]]:
    """For each objective of the schedule, VALIDATION_BATCHES fixed example lists drawn from the dev split
    `held` as training draws them; empty without a dev split or with train.eval_every 0."""
    config = settings.config
    if held is None or config.train.eval_every == 0:
        return {}
    tokenized = tokenize_corpus(held, tokenizer, config.data.max_length - 2, config.data.mono_from_parallel)
    known = {lang: language_ids[lang] for lang in tokenized.languages() if lang in language_ids}
    sampler = ExampleSampler(tokenized, known, config.data.alpha, config.train.seed)
    rng = np.random.default_rng([config.train.seed, len(known)])
    return {
        objective.name: [sampler.draw(objective.data, config.train.batch_size, rng) for _ in range(VALIDATION_BATCHES)]
        for objective in sorted(registry.used(config), key=lambda objective: objective.name)
        if sampler.sources[objective.data]
    }


def initial_model(config: Config, vocab_size: int, languages: list[str]):
    """The model a run without --init-from starts from, seeded by train.seed."""
    torch.manual_seed(config.train.seed)
    return new_model(config.model, vocab_size, languages, config.data.max_length)


def _shards(
    settings: RunSettings, corpus: TextCorpus, out_dir: Path, progress: bool, dist, fingerprint: str
) -> TokenizedCorpus:
    """The corpus tokenised once (by the main rank) into memory-mapped shards under OUT/shards/<fingerprint>/
    (`shard_fingerprint`), reused by --resume as long as neither the corpus nor the tokenizer changed."""
    data = settings.config.data
    tokenizer_dir = settings.init_from or out_dir / "tokenizer"
    path = out_dir / "shards" / fingerprint
    if dist.is_main and not path.exists():
        cores = os.cpu_count() or 1
        workers = data.tokenize_workers or (1 if cores <= 4 else min(cores, 8))
        write_shards(corpus, tokenizer_dir, path, data.max_length - 2, data.mono_from_parallel, workers, progress)
    distributed.barrier(dist)
    return read_shards(path)


def _check_out_dir(settings: RunSettings | None, out_dir: Path, resume: bool) -> RunSettings:
    """--resume needs the run's settings (a run stopped before its first checkpoint starts over);
    a new run needs a new or empty directory."""
    if out_dir.exists() and not out_dir.is_dir():
        raise ErnieMError(f"{out_dir}: --out names a file; give a directory (new or empty, or a run to --resume)")
    if resume:
        if not (out_dir / "run.yaml").is_file():
            raise ErnieMError(f"{out_dir}: --resume found no run to continue (no run.yaml, no checkpoint)")
        return RunSettings.load(out_dir / "run.yaml")
    if out_dir.exists() and any(out_dir.iterdir()):
        raise ErnieMError(
            f"{out_dir}: output directory exists and is not empty; pass --resume to continue it, or another --out"
        )
    return settings


def read_text_corpus(settings: RunSettings) -> TextCorpus:
    data = settings.config.data
    if settings.corpus is not None:
        return open_corpus(settings.corpus)
    return read_system_catalogs(list(data.languages), max_pairs_per_language=data.max_pairs_per_language)


def _trained_tokenizer(settings: RunSettings, corpus: TextCorpus, out_dir: Path, dist):
    """The --tokenizer one (copied), or one trained on the corpus once, by the main rank; kept in OUT for --resume."""
    path = out_dir / "tokenizer"
    if dist.is_main and not path.exists() and settings.tokenizer is not None:
        copy_directory(settings.tokenizer, path)
    elif dist.is_main and not path.exists():
        tokenizer = settings.config.tokenizer
        log.info(
            "tokenizer: training a %d-piece SentencePiece model (up to %d sentences)",
            tokenizer.vocab_size,
            tokenizer.max_sentences,
        )
        sample = balanced_sample(corpus, tokenizer.max_sentences, tokenizer.alpha, settings.config.train.seed)
        train_tokenizer(sample, path, tokenizer.vocab_size, settings.config.train.seed, tokenizer.max_sentences)
    distributed.barrier(dist)
    return load_tokenizer(path)


def _describe(corpus: TextCorpus) -> str:
    pairs = ", ".join(f"{a}-{b} {len(p):,}" for (a, b), p in sorted(corpus.pairs.items()))
    mono = ", ".join(f"{lang} {len(m):,}" for lang, m in sorted(corpus.mono.items()))
    return f"pairs: {pairs or 'none'}; monolingual: {mono or 'none'}"


def _from_init(settings: RunSettings, corpus: TextCorpus):
    """The --init-from tokenizer and model (language rows grown to the corpus), checked against each other."""
    if settings.init_from is None:
        return None
    config = settings.config
    # names an unconverted ERNIE-M
    model = load_model(settings.init_from, corpus.languages(), config.model.attn_implementation)
    tokenizer = load_tokenizer(settings.init_from)
    hf = model.mlm.config
    if hf.vocab_size != len(tokenizer):
        raise ErnieMError(
            f"{settings.init_from}: model vocabulary {hf.vocab_size} != tokenizer vocabulary {len(tokenizer)}"
        )
    if config.data.max_length + 2 > hf.max_position_embeddings:
        raise ErnieMError(
            f"data.max_length {config.data.max_length} exceeds what {settings.init_from} supports "
            f"({hf.max_position_embeddings - 2})"
        )
    return tokenizer, model


# What reading a truncated or overwritten checkpoint file raises: safetensors', torch's or pickle's error.
DAMAGED_CHECKPOINT = (SafetensorError, pickle.UnpicklingError, EOFError, OSError, RuntimeError, ValueError, KeyError)


def _restore_newest(trainer: Trainer, directory: Path, dist, accept_changed_corpus: bool) -> int:
    """Restore the newest checkpoint that loads, saying which were passed over; return its step (0: none saved)."""
    found = checkpoint.complete_checkpoints(directory)
    for path in reversed(found):
        try:
            return trainer.restore(path, accept_changed_corpus)
        except DAMAGED_CHECKPOINT as error:
            if dist.is_main:
                log.warning("%s: cannot be loaded (%s); trying the checkpoint before it", path, first_line(error))
    if found:
        raise ErnieMError(f"{directory}: none of the {len(found)} checkpoints loads; start a new run")
    return 0


def _truncate_log(path: Path, step: int) -> None:
    """Drop log lines written after the checkpoint we resume from (they will be written again), and
    a last line that a kill tore in the middle."""
    if not path.is_file():
        return
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    kept = []
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if number < len(lines):
                raise ErnieMError(
                    f"{path}: line {number} is not JSON; the log is damaged beyond a torn last line"
                ) from None
            log.warning("%s: line %d was cut off by the interruption; dropped", path, number)
            continue
        if record["step"] <= step:
            kept.append(line)
    write_atomically(path, lambda partial: partial.write_text("".join(line + "\n" for line in kept), encoding="utf-8"))


def _text(path: Path | None) -> str | None:
    return None if path is None else str(Path(path).resolve())


def _path(text: str | None) -> Path | None:
    return None if text is None else Path(text)


def export_checkpoint(path: Path, out_dir: Path) -> Path:
    """The model of checkpoint `path` (OUT/checkpoints/step-N) as a Hugging Face model directory with the
    run's tokenizer, as the run exports its final model (without the model card)."""
    path = Path(path)
    if (path / "sharded").is_dir():
        raise ErnieMError(
            f"{path}: a sharded (FSDP) checkpoint; export is for unsharded ones (resume the run to its end to export)"
        )
    missing = [name for name in ("config.json", "model.safetensors", "trainer.pt") if not (path / name).is_file()]
    if missing:
        raise ErnieMError(
            f"{path}: not a complete checkpoint of this version (no {', '.join(missing)}); "
            "give OUT/checkpoints/step-N of a run"
        )
    run_dir = path.parent.parent
    if not (run_dir / "run.yaml").is_file():
        raise ErnieMError(f"{path}: no run.yaml two folders up; a checkpoint is exported from inside its run's folder")
    settings = RunSettings.load(run_dir / "run.yaml")
    tokenizer = load_tokenizer(settings.init_from or run_dir / "tokenizer")
    model = model_from_config(path)
    checkpoint.load_weights(path, model, torch.device("cpu"))
    save_pretrained(model, tokenizer, out_dir)
    return Path(out_dir)
