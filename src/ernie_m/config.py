"""One typed config tree: loaded once from YAML plus `section.key=value` overrides, validated, frozen.

Every default that the paper leaves open is named here and documented in docs/method.md
(see `docs/method.md` in the team's shared notes for where each comes from).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ernie_m.errors import ErnieMError, first_line

ATTENTION = ("sdpa", "eager", "flex_attention")
LOGS_AT_LEAST = 10  # a schedule squeezed by --max-steps still logs this many times


@dataclass(frozen=True)
class ModelConfig:
    """Size of a from-scratch XLM-R encoder. With --init-from only attn_implementation is used."""

    hidden_size: int = 128
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    intermediate_size: int = 512
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    attn_implementation: str = "sdpa"  # "sdpa", "eager" (additive 4-D masks) or "flex_attention" (block masks)


@dataclass(frozen=True)
class TokenizerConfig:
    """SentencePiece unigram model trained on the corpus when no --init-from tokenizer is given."""

    vocab_size: int = 8000
    max_sentences: int = 300_000
    alpha: float = 0.3  # language-balanced training sample: share of language l ~ n_l ** alpha


@dataclass(frozen=True)
class DataConfig:
    """Which text, how long, and how languages are sampled."""

    languages: tuple[str, ...] = ("de", "es", "fr", "ru", "zh")  # the embedded default's X in en-X (the demo's too)
    max_pairs_per_language: int | None = None  # pretrain without --corpus only: a seeded sample of the catalogs
    max_length: int = 64  # tokens per training sequence, special tokens included
    alpha: float = 0.5  # language sampling p(l) ~ n_l ** alpha
    mono_from_parallel: bool = True  # each side of a pair also counts as monolingual text
    tokenize_workers: int = 0  # processes that tokenise the corpus into shards; 0: one per core beyond 4, up to 8
    packing: bool = True  # several sequences to a row of max_length tokens, attending only within themselves


@dataclass(frozen=True)
class ObjectiveConfig:
    """Masking and the options of TLM, CAMLM and BTMLM that the paper leaves open."""

    mask_prob: float = 0.15
    mask_token_prob: float = 0.8  # of the selected tokens: this share becomes <mask> ...
    random_token_prob: float = 0.1  # ... this share a random token, the rest stay as they are
    pair_positions: str = "restart"  # "restart" (XLM) or "continuous" (ERNIE-M's readers)
    bt_length_ratio: float = 1.0  # pseudo-translation length k = ratio * source length
    bt_decoding: str = "argmax"  # "argmax" or "sample"
    bt_temperature: float = 1.0
    bt_top_k: int = 0  # 0: sample from the whole vocabulary
    bt_target_languages: tuple[str, ...] = ()  # empty: the languages that have parallel data


@dataclass(frozen=True)
class StageConfig:
    """A stretch of training with its own objective mix (weights are sampling ratios)."""

    name: str
    steps: int
    objectives: dict[str, float]


def _default_stages() -> tuple[StageConfig, ...]:
    return (
        StageConfig("align", 200, {"mmlm": 1.0, "tlm": 1.0, "camlm": 1.0}),
        StageConfig("back-translate", 200, {"mmlm": 1.0, "tlm": 1.0, "camlm": 1.0, "btmlm": 1.0}),
    )


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation, logging and checkpointing."""

    batch_size: int = 32  # sequences per micro-batch and process
    grad_accum: int = 1
    lr: float = 1e-3
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.98)
    warmup_steps: int = 40
    max_grad_norm: float = 1.0
    seed: int = 0
    log_every: int = 10
    checkpoint_every: int = 100
    eval_every: int | None = (
        None  # validation loss per objective on the corpus's dev split; None: at every checkpoint, 0: never
    )
    report_to: tuple[str, ...] = ()  # also log to "tensorboard" (OUT/tensorboard) and/or "wandb": optional packages
    keep_checkpoints: int = 2
    device: str = "auto"  # "auto", "cpu" or "cuda"
    bf16: bool = True  # bf16 autocast, on CUDA only (it is far slower on CPU)
    # several processes: "ddp" (a replica each) or "fsdp" (FSDP2: weights, gradients, optimizer state sharded)
    parallel: str = "ddp"
    activation_checkpointing: bool = (
        False  # recompute each layer's activations in the backward pass: less memory, more time
    )
    compile: bool = False  # torch.compile each encoder layer: fused element-wise work on GPU; the first steps compile


@dataclass(frozen=True)
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    data: DataConfig = field(default_factory=DataConfig)
    objectives: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    stages: tuple[StageConfig, ...] = field(default_factory=_default_stages)
    train: TrainConfig = field(default_factory=TrainConfig)

    @property
    def total_steps(self) -> int:
        return sum(stage.steps for stage in self.stages)

    def stage_at(self, step: int) -> StageConfig:
        """The stage that optimizer step `step` (0-based) belongs to."""
        end = 0
        for stage in self.stages:
            end += stage.steps
            if step < end:
                return stage
        return self.stages[-1]

    def with_total_steps(self, total: int) -> Config:
        """The same schedule squeezed or stretched to `total` steps, stage proportions kept; logged at
        least LOGS_AT_LEAST times."""
        if total < 1:
            raise ErnieMError(f"--max-steps must be at least 1, got {total}")
        old = self.total_steps
        bounds = [round(total * sum(s.steps for s in self.stages[: i + 1]) / old) for i in range(len(self.stages))]
        starts = [0] + bounds[:-1]
        stages = tuple(
            dataclasses.replace(s, steps=b - a) for s, a, b in zip(self.stages, starts, bounds, strict=True) if b > a
        )
        train = dataclasses.replace(self.train, log_every=max(1, min(self.train.log_every, total // LOGS_AT_LEAST)))
        return dataclasses.replace(self, stages=stages, train=train)

    def to_dict(self) -> dict:
        return _plain(dataclasses.asdict(self))


def _plain(value):
    """Tuples to lists, so that the YAML we write is the YAML a user would write."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


BUNDLED = Path(__file__).resolve().parent / "configs"  # tiny, base, large, gpu-study: installed with the package


def bundled_configs() -> list[str]:
    return sorted(path.stem for path in BUNDLED.glob("*.yaml"))


def load_config(path: Path | str | None, overrides: list[str] = ()) -> Config:
    """Read YAML (or the defaults when `path` is None), apply `a.b=value` overrides, validate. `path` is a
    file, or the name of a bundled config ("tiny", "base", ...) when no such file exists."""
    return config_from_dict(_read_yaml(config_path(path)) if path is not None else {}, overrides)


def config_path(path: Path | str) -> Path:
    """A config file's path: `path` itself, or the bundled config of that name."""
    path = Path(path)
    if not path.exists() and path.suffix == "" and len(path.parts) == 1:
        bundled = BUNDLED / f"{path.name}.yaml"
        if not bundled.is_file():
            raise ErnieMError(f"{path}: neither a config file nor a bundled config ({', '.join(bundled_configs())})")
        return bundled
    return path


def config_from_dict(raw: dict, overrides: list[str] = ()) -> Config:
    raw = copy.deepcopy(raw)
    for item in overrides:
        _apply_override(raw, item)
    config = _build(Config, raw, "config")
    _validate(config)
    return config


def _read_yaml(path: Path) -> dict:
    if not path.is_file():
        raise ErnieMError(f"{path}: config file not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ErnieMError(f"{path}: not a valid YAML file ({first_line(err)})") from None
    if not isinstance(raw, dict):
        raise ErnieMError(f"{path}: expected a mapping of sections (model, data, train, ...)")
    return raw


def _apply_override(raw: dict, item: str) -> None:
    key, sep, text = item.partition("=")
    if not sep or not key:
        raise ErnieMError(f"override {item!r}: expected section.key=value, e.g. train.lr=5e-4")
    *sections, leaf = key.split(".")
    node = raw
    for section in sections:
        node = node.setdefault(section, {})
        if not isinstance(node, dict):
            raise ErnieMError(f"override {item!r}: {section} is not a section")
    node[leaf] = yaml.safe_load(text)


def _build(cls, raw, where: str):
    """Build dataclass `cls` from a mapping, rejecting unknown keys and values of the wrong type."""
    if not isinstance(raw, dict):
        raise ErnieMError(f"{where}: expected a mapping, got {raw!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - names)
    if unknown:
        raise ErnieMError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}")
    values = {name: _coerce(hints[name], raw[name], f"{where}.{name}") for name in raw}
    try:
        return cls(**values)
    except TypeError as err:
        raise ErnieMError(f"{where}: {err}") from None


def _coerce(hint, value, where: str):
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, where)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(inner, value, where)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ErnieMError(f"{where}: expected a list, got {value!r}")
        if hint == tuple[StageConfig, ...]:
            return tuple(_build(StageConfig, v, f"{where}[{i}]") for i, v in enumerate(value))
        inner = args[0]
        if args[-1] is not Ellipsis and len(args) != len(value):
            raise ErnieMError(f"{where}: expected {len(args)} values, got {len(value)}")
        return tuple(_coerce(args[i] if args[-1] is not Ellipsis else inner, v, where) for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ErnieMError(f"{where}: expected a mapping, got {value!r}")
        return {str(k): _coerce(args[1], v, f"{where}.{k}") for k, v in value.items()}
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is float and isinstance(value, str):
        try:
            return float(value)  # YAML reads 1e-3 (no dot) as a string
        except ValueError:
            pass
    if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise ErnieMError(f"{where}: expected {hint.__name__}, got {value!r}")
    return value


def _numbers(value, where: str):
    """Every number in a config tree, with its dotted name (stage weights included)."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _numbers(inner, f"{where}.{key}" if where else key)
    elif isinstance(value, (list, tuple)):
        for i, inner in enumerate(value):
            yield from _numbers(inner, f"{where}[{i}]")
    elif isinstance(value, float):
        yield where, value


def _validate(config: Config) -> None:
    for where, value in _numbers(config.to_dict(), ""):
        if not math.isfinite(value):
            raise ErnieMError(f"config: {where} must be a finite number, got {value}")
    obj, train, data, model = config.objectives, config.train, config.data, config.model
    checks = [
        (
            min(model.hidden_size, model.num_hidden_layers, model.num_attention_heads, model.intermediate_size) >= 1,
            "model sizes (hidden_size, num_hidden_layers, num_attention_heads, intermediate_size) must be >= 1",
        ),
        (
            model.hidden_size % max(model.num_attention_heads, 1) == 0,
            f"model.hidden_size {model.hidden_size} must be divisible by model.num_attention_heads "
            f"{model.num_attention_heads}",
        ),
        (
            0 <= model.hidden_dropout_prob < 1 and 0 <= model.attention_probs_dropout_prob < 1,
            "model.hidden_dropout_prob and attention_probs_dropout_prob must be in [0, 1)",
        ),
        (all(0 <= beta < 1 for beta in train.betas), f"train.betas must both be in [0, 1), got {list(train.betas)}"),
        (
            train.max_grad_norm > 0 and train.weight_decay >= 0,
            "train.max_grad_norm must be positive and train.weight_decay >= 0",
        ),
        (
            0 <= obj.mask_token_prob <= 1 and 0 <= obj.random_token_prob <= 1,
            "objectives.mask_token_prob and random_token_prob must be in [0, 1]",
        ),
        (
            config.tokenizer.vocab_size >= 16 and config.tokenizer.max_sentences >= 1,
            "tokenizer.vocab_size must be >= 16 and tokenizer.max_sentences >= 1",
        ),
        (train.seed >= 0 and data.tokenize_workers >= 0, "train.seed and data.tokenize_workers must be >= 0"),
        (
            data.max_pairs_per_language is None or data.max_pairs_per_language >= 1,
            "data.max_pairs_per_language must be >= 1 (or null: all)",
        ),
        (obj.pair_positions in ("restart", "continuous"), "objectives.pair_positions must be restart or continuous"),
        (obj.bt_decoding in ("argmax", "sample"), "objectives.bt_decoding must be argmax or sample"),
        (0 < obj.mask_prob < 1, "objectives.mask_prob must be between 0 and 1"),
        (obj.mask_token_prob + obj.random_token_prob <= 1, "objectives.mask_token_prob + random_token_prob > 1"),
        (obj.bt_length_ratio > 0, "objectives.bt_length_ratio must be positive"),
        (
            config.model.attn_implementation in ATTENTION,
            f"model.attn_implementation must be one of {', '.join(ATTENTION)}",
        ),
        (data.max_length >= 16, "data.max_length must be at least 16"),
        (train.batch_size >= 1 and train.grad_accum >= 1, "train.batch_size and train.grad_accum must be >= 1"),
        (train.parallel in ("ddp", "fsdp"), f"train.parallel must be ddp or fsdp, got {train.parallel!r}"),
        (train.device in ("auto", "cpu", "cuda"), "train.device must be auto, cpu or cuda"),
        (
            train.log_every >= 1 and train.checkpoint_every >= 1,
            "train.log_every and train.checkpoint_every must be >= 1",
        ),
        (train.keep_checkpoints >= 1, "train.keep_checkpoints must be >= 1"),
        (train.eval_every is None or train.eval_every >= 0, "train.eval_every must be >= 0 (0: no validation)"),
        (train.lr > 0 and train.warmup_steps >= 0, "train.lr must be positive and train.warmup_steps >= 0"),
        (data.alpha >= 0 and config.tokenizer.alpha >= 0, "data.alpha and tokenizer.alpha must be >= 0"),
        (obj.bt_temperature > 0 and obj.bt_top_k >= 0, "objectives.bt_temperature must be positive, bt_top_k >= 0"),
        (len(config.stages) > 0, "stages: at least one stage is needed"),
    ]
    for ok, message in checks:
        if not ok:
            raise ErnieMError(f"config: {message}")
    for stage in config.stages:
        if (
            stage.steps < 1
            or not any(w > 0 for w in stage.objectives.values())
            or any(w < 0 for w in stage.objectives.values())
        ):
            raise ErnieMError(f"config: stage {stage.name!r} needs steps >= 1 and weights >= 0, one of them > 0")
