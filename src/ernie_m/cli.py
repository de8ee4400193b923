"""The `ernie-m` command. It only parses and dispatches; errors become one line and exit code 2."""

from __future__ import annotations

import logging
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from ernie_m.errors import ErnieMError
from ernie_m.hub import local_model

HELP_OPTIONS = {"help_option_names": ["-h", "--help"]}
app = typer.Typer(
    help="ERNIE-M: pre-train cross-lingual encoders on XLM-R.",
    no_args_is_help=True,
    add_completion=False,
    context_settings=HELP_OPTIONS,
)
corpus_app = typer.Typer(help="Build and inspect corpora.", no_args_is_help=True, context_settings=HELP_OPTIONS)
tokenizer_app = typer.Typer(help="Train tokenizers.", no_args_is_help=True, context_settings=HELP_OPTIONS)
app.add_typer(corpus_app, name="corpus")
app.add_typer(tokenizer_app, name="tokenizer")


# Options that several commands share.
Overrides = Annotated[
    list[str] | None, typer.Option("--set", help="Override a config value: section.key=value (repeatable).")
]
MonoOnly = Annotated[
    str | None,
    typer.Option(help="Catalog languages trained on monolingual text only, comma-separated (default: bg,el,tr,nl)."),
]
Cache = Annotated[
    Path,
    typer.Option(
        help="Where the corpus, tokenizer and base models are kept for the next demo or ablation (shared by both)."
    ),
]
CorpusOption = Annotated[
    Path | None,
    typer.Option(
        help="A corpus built by `ernie-m corpus build` (with held-out pairs) instead of the system's catalogs."
    ),
]
XnliFolder = Annotated[
    Path | None,
    typer.Option(help="A folder of XNLI files (dev-XX.tsv): score retrieval on its translated sentences too."),
]
TatoebaFolder = Annotated[
    Path | None, typer.Option(help="A folder of Tatoeba files (tatoeba.XXX-eng.*) to score as well.")
]
ConllFolder = Annotated[
    Path | None,
    typer.Option(
        help=(
            "A folder of CoNLL NER files (eng.train, eng.testa, *.testb): fine-tune every model on English, score "
            "de, es, nl."
        )
    ),
]
BaseSteps = Annotated[
    int | None,
    typer.Option(
        help="MMLM steps of the base model, trained from a random initialisation before the recipe (default: 4000)."
    ),
]
BASE_STEPS = 4000


def _print_version(asked: bool) -> None:
    if asked:
        from ernie_m.provenance import tool_version

        typer.echo(tool_version())
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """ERNIE-M: pre-train cross-lingual encoders on XLM-R."""


def _codes(text: str | None) -> tuple[str, ...]:
    return tuple(code.strip() for code in (text or "").split(",") if code.strip())


@corpus_app.command("build")
def corpus_build(
    out: Annotated[Path, typer.Option(help="New directory for the corpus (never overwritten).")],
    catalogs: Annotated[
        str | None,
        typer.Option(
            "--catalogs",
            "--languages",
            help="Catalog languages, comma-separated, or 'all'; '' for none (default: all, or none with --user).",
        ),
    ] = None,
    user: Annotated[
        list[Path] | None,
        typer.Option(help="A directory of your own files (layout: docs/usage.md, Corpora); repeatable."),
    ] = None,
    debian_package: Annotated[
        list[str] | None, typer.Option(help="Extra translations from Debian: 'libreoffice-help'.")
    ] = None,
    mono_only: Annotated[
        str, typer.Option(help="Languages to keep monolingual only (their pairs withheld), comma-separated.")
    ] = "",
    dev: Annotated[int, typer.Option(help="Held-out dev pairs per language.")] = 500,
    test: Annotated[int, typer.Option(help="Held-out test pairs per language.")] = 1000,
    on_error: Annotated[str, typer.Option(help="A line that is not UTF-8 (or a bad TSV line): fail or skip.")] = "fail",
    seed: Annotated[int, typer.Option()] = 0,
) -> None:
    """Build a cleaned corpus with held-out splits from the system catalogs, Debian packages and your files."""
    from ernie_m.data.build import BuildOptions, build_corpus
    from ernie_m.data.stats import corpus_report

    with _errors():
        if on_error not in ("fail", "skip"):
            raise ErnieMError(f"--on-error must be fail or skip, got {on_error!r}")
        options = BuildOptions(
            catalog_languages=_codes("all" if catalogs is None and not user else catalogs),
            user_corpora=tuple(user or ()),
            debian_packages=tuple(debian_package or ()),
            mono_only=_codes(mono_only),
            dev_pairs=dev,
            test_pairs=test,
            on_error=on_error,
            seed=seed,
        )
        build_corpus(options, out)
        typer.echo(corpus_report(out)[0])
        typer.echo(f"corpus written to {out}")


@corpus_app.command("stats")
def corpus_stats(
    corpus: Annotated[Path, typer.Argument(help="A directory written by `ernie-m corpus build`.")],
    png: Annotated[Path | None, typer.Option(help="Where to write the bar chart (default: DIR/stats.png).")] = None,
) -> None:
    """Per-language table (pairs, monolingual lines, words, cleaning removals) and a PNG bar chart."""
    from ernie_m.data.stats import bar_chart, corpus_report

    with _errors():
        languages, cleaning = corpus_report(corpus)
        typer.echo(languages + "\n\nRemoved by each cleaning rule:\n\n" + cleaning)
        typer.echo(f"chart: {bar_chart(corpus, png or corpus / 'stats.png')}")


@tokenizer_app.command("train")
def tokenizer_train(
    corpus: Annotated[Path, typer.Option(help="A built corpus or a directory of your own files.")],
    out: Annotated[Path, typer.Option(help="Tokenizer directory to write (Hugging Face format).")],
    vocab_size: Annotated[int, typer.Option(help="Final vocabulary, special tokens included.")] = 32000,
    alpha: Annotated[float, typer.Option(help="Language balance of the sample: share ~ n ** alpha.")] = 0.3,
    max_sentences: Annotated[int, typer.Option(help="Sentences to train on.")] = 1_000_000,
    seed: Annotated[int, typer.Option()] = 0,
) -> None:
    """Train a SentencePiece unigram tokenizer in XLM-R's layout on a language-balanced sample."""
    from ernie_m.data.build import open_corpus
    from ernie_m.data.tokenizer import balanced_sample, train_tokenizer

    with _errors():
        sample = balanced_sample(open_corpus(corpus), max_sentences, alpha, seed)
        tokenizer = train_tokenizer(sample, out, vocab_size, seed, max_sentences)
        typer.echo(f"tokenizer of {len(tokenizer):,} tokens trained on {len(sample):,} sentences, saved to {out}")


@app.command()
def pretrain(
    config: Annotated[
        Path | None, typer.Option(help="A YAML config file, or a bundled one by name: tiny, base, large, gpu-study.")
    ] = None,
    corpus: Annotated[
        Path | None,
        typer.Option(
            help=(
                "A built corpus, or a directory of <lang>.txt and <a>-<b>.<a>/<a>-<b>.<b> files. Default: the "
                "system's translation catalogs."
            )
        ),
    ] = None,
    tokenizer: Annotated[
        Path | None,
        typer.Option(help="A tokenizer directory (`ernie-m tokenizer train`); default: trained on the corpus."),
    ] = None,
    out: Annotated[Path, typer.Option(help="Output directory (must be new or empty, unless --resume).")] = Path(
        "runs/pretrain"
    ),
    max_steps: Annotated[int | None, typer.Option(help="Squeeze the stage schedule into this many steps.")] = None,
    stop_at: Annotated[
        int | None, typer.Option(help="Checkpoint and stop after this step; the schedule is unchanged.")
    ] = None,
    init_from: Annotated[
        Path | None,
        typer.Option(help="XLM-R / ERNIE-M model directory in Hugging Face format, or a hub id in the local cache."),
    ] = None,
    resume: Annotated[
        bool, typer.Option(help="Continue the run in --out from its last checkpoint, with its saved settings.")
    ] = False,
    accept_changed_corpus: Annotated[
        bool,
        typer.Option(
            help=(
                "With --resume: continue although the corpus changed since the checkpoint (the data order then "
                "differs from an uninterrupted run)."
            )
        ),
    ] = False,
    set_: Overrides = None,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Pre-train with MMLM, TLM, CAMLM and BTMLM, stage by stage; export a Hugging Face model."""
    from ernie_m.train.run import RunSettings
    from ernie_m.train.run import pretrain as run_pretrain

    with _errors():
        settings = None
        if stop_at is not None and stop_at < 1:
            raise ErnieMError(f"--stop-at {stop_at}: the step to stop after must be at least 1")
        if resume:
            if config or corpus or init_from or tokenizer or set_ or max_steps is not None:
                raise ErnieMError(
                    "--resume continues with the run's saved settings (OUT/run.yaml); drop --config, --corpus, "
                    "--init-from, --tokenizer, --set, --max-steps"
                )
        else:
            if tokenizer and init_from:
                raise ErnieMError(
                    "--tokenizer and --init-from: a model comes with its own tokenizer; pass only one of them"
                )
            loaded = _load_config(config, set_)
            init_from = local_model(init_from) if init_from is not None else None
            settings = RunSettings(
                loaded.with_total_steps(max_steps) if max_steps is not None else loaded, corpus, init_from, tokenizer
            )
        if accept_changed_corpus and not resume:
            raise ErnieMError("--accept-changed-corpus is for --resume")
        model_dir = run_pretrain(
            settings,
            out,
            resume=resume,
            stop_at=stop_at,
            progress=progress,
            accept_changed_corpus=accept_changed_corpus,
        )
        if os.environ.get("RANK", "0") != "0":  # under torchrun, one process reports
            return
        if model_dir is None:
            typer.echo(f"stopped at step {stop_at}; continue with: ernie-m pretrain --out {out} --resume")
        else:
            typer.echo(f"model saved to {model_dir} (transformers.AutoModel.from_pretrained loads it)")


@app.command()
def convert(
    from_: Annotated[
        str,
        typer.Option(
            "--from",
            help="Layout of the checkpoint: paddle (PaddleNLP .pdparams) or hf-erniem (transformers 4 ErnieM).",
        ),
    ],
    src: Annotated[
        Path,
        typer.Option(
            help=(
                "The checkpoint's directory (weights, config, sentencepiece.bpe.model, vocab.txt), or for paddle "
                "its .pdparams file; or a hub id in the local cache."
            )
        ),
    ],
    out: Annotated[
        Path, typer.Option(help="New model directory in the XLM-R layout (an earlier conversion there is replaced).")
    ],
) -> None:
    """Convert released ERNIE-M weights to a Hugging Face XLM-R model directory (no PaddlePaddle needed)."""
    from ernie_m.convert.checkpoint import convert_checkpoint

    with _errors():
        convert_checkpoint(from_, local_model(src), out)
        typer.echo(f"converted to {out} (transformers.AutoModel.from_pretrained loads it; --init-from takes it)")


@app.command()
def export(
    out: Annotated[Path, typer.Option(help="New model directory.")],
    checkpoint: Annotated[
        Path | None,
        typer.Option(
            help="A checkpoint of a run (OUT/checkpoints/step-N): export it as a Hugging Face model directory."
        ),
    ] = None,
    model: Annotated[
        Path | None,
        typer.Option(help="A model directory (or a hub id in the local cache) to export with --sentence-transformers."),
    ] = None,
    sentence_transformers: Annotated[
        bool,
        typer.Option(
            "--sentence-transformers",
            help="Write --model in sentence-transformers' format, giving encode's vectors (needs the package).",
        ),
    ] = False,
    layer: Annotated[
        int | None,
        typer.Option(
            help=(
                "With --sentence-transformers: the layer to pool, as encode's --layer (default: XTREME's 8 of 12, "
                "scaled)."
            )
        ),
    ] = None,
) -> None:
    """Export a run's checkpoint as a model directory, or a model as a sentence-transformers model."""
    from ernie_m.evaluate.encode import export_sentence_transformer
    from ernie_m.train.run import export_checkpoint

    with _errors():
        if (checkpoint is None) == (model is None) or sentence_transformers != (model is not None):
            raise ErnieMError("give --checkpoint OUT/checkpoints/step-N, or --model DIR with --sentence-transformers")
        if checkpoint is not None:
            export_checkpoint(checkpoint, out)
            typer.echo(f"{checkpoint} exported to {out} (transformers.AutoModel.from_pretrained loads it)")
        else:
            export_sentence_transformer(local_model(model), out, layer)
            typer.echo(f"{model} exported to {out} (sentence_transformers.SentenceTransformer loads it)")


@app.command()
def card(
    model: Annotated[Path, typer.Option(help="A model directory exported by ernie-m pretrain.")],
    results: Annotated[list[Path], typer.Option(help="A folder of ernie-m evaluate results (repeatable).")],
    allow_partial: Annotated[
        bool,
        typer.Option(help="Accept results scored on a dev split or fine-tuned on a subsample; the card says which."),
    ] = False,
) -> None:
    """Put evaluation results into a pre-trained model's card (MODEL/README.md), with what each was measured on."""
    from ernie_m.evaluate.report import add_results

    with _errors():
        typer.echo(f"model card written: {add_results(model, results, allow_partial)}")


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Output folder: the run, report.md and its plots.")] = Path("runs/demo"),
    config: Annotated[
        Path,
        typer.Option(
            help="Model size, steps and the languages trained with pairs (data.languages): a file or a bundled name."
        ),
    ] = Path("tiny"),
    base_steps: BaseSteps = None,
    mono_only: MonoOnly = None,
    corpus: CorpusOption = None,
    xnli: XnliFolder = None,
    tatoeba: TatoebaFolder = None,
    conll: ConllFolder = None,
    cache: Cache = Path("runs/cache"),
    set_: Overrides = None,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Build the default corpus, train the tokenizer and a base (MMLM), continue it with the full recipe, score
    alignment, report."""
    from ernie_m.experiments.demo import run_demo

    with _errors(), _interruptible():
        inputs = _inputs(_load_config(config, set_), mono_only, cache, corpus)
        report = run_demo(inputs, out, _base_steps(base_steps), _scoring(inputs, xnli, tatoeba, conll), progress)
        typer.echo("\n" + report.read_text(encoding="utf-8") + f"\nreport: {report} (plots beside it)")


@app.command()
def ablation(
    out: Annotated[Path, typer.Option(help="Output folder: one run per arm and seed, ablation.md/.png/.json.")] = Path(
        "runs/ablation"
    ),
    config: Annotated[
        Path, typer.Option(help="The config every arm shares (two stages), a file or a bundled name; see --max-steps.")
    ] = Path("tiny"),
    arms: Annotated[
        str, typer.Option(help="Comma-separated: mmlm, mmlm-tlm, mmlm-camlm, mmlm-camlm-btmlm, full.")
    ] = "mmlm,mmlm-tlm,mmlm-camlm,mmlm-camlm-btmlm,full",
    seeds: Annotated[str, typer.Option(help="Comma-separated seeds; the base and every arm run with each.")] = "0,1,2",
    max_steps: Annotated[
        int, typer.Option(help="Steps per arm from the base (the config's stage proportions kept).")
    ] = 3000,
    base_steps: BaseSteps = None,
    init_from: Annotated[
        Path | None,
        typer.Option(
            help=(
                "A model directory (XLM-R on your disk, or a hub id in the local cache) every arm continues from, "
                "instead of a base trained here."
            )
        ),
    ] = None,
    mono_only: MonoOnly = None,
    corpus: CorpusOption = None,
    xnli: XnliFolder = None,
    tatoeba: TatoebaFolder = None,
    conll: ConllFolder = None,
    cache: Cache = Path("runs/cache"),
    set_: Overrides = None,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Train a base (MMLM) per seed, continue it with each of the paper's arms (same budget, data, seed); report them
    side by side."""
    from ernie_m.experiments.ablation import run_ablation

    with _errors(), _interruptible():
        loaded = _load_config(config, set_)
        try:
            seed_list = tuple(int(seed) for seed in _codes(seeds))
        except ValueError:
            raise ErnieMError(f"--seeds {seeds!r}: expected comma-separated integers") from None
        if len(set(seed_list)) != len(seed_list):
            raise ErnieMError(f"--seeds {seeds!r}: a seed given twice would count one run twice")
        if max_steps < len(loaded.stages):
            raise ErnieMError(
                f"--max-steps {max_steps}: each of the {len(loaded.stages)} stages needs at least one step"
            )
        inputs = _inputs(loaded.with_total_steps(max_steps), mono_only, cache, corpus)
        if init_from is not None and base_steps is not None:
            raise ErnieMError("--base-steps: with --init-from the given model is the base; no base is trained")
        init_from = local_model(init_from) if init_from is not None else None
        report = run_ablation(
            inputs,
            out,
            _codes(arms),
            seed_list,
            _base_steps(base_steps),
            _scoring(inputs, xnli, tatoeba, conll),
            init_from,
            progress,
        )
        typer.echo("\n" + report.read_text(encoding="utf-8") + f"\nreport: {report} (plot beside it)")


@app.command()
def evaluate(
    task: Annotated[
        str,
        typer.Argument(
            help=(
                "xnli, pawsx, conll, mlqa, tatoeba, bucc, xnli-retrieval (XNLI's translated sentences), or heldout "
                "(a built corpus's test pairs)."
            )
        ),
    ],
    model: Annotated[
        Path,
        typer.Option(
            help=(
                "Any model directory AutoModel loads (ours, XLM-R, ...), with its tokenizer, or a hub id in the "
                "local cache."
            )
        ),
    ],
    data: Annotated[Path, typer.Option(help="The task's files in their official formats.")],
    out: Annotated[Path, typer.Option(help="Where the JSON, markdown table and PNG chart go.")] = Path("results"),
    setting: Annotated[str, typer.Option(help="transfer (train en) or translate-train-all.")] = "transfer",
    languages: Annotated[str, typer.Option(help="Comma-separated; default: every language of the task.")] = "",
    train_split: Annotated[str, typer.Option(help="File split to fine-tune on.")] = "train",
    dev_split: Annotated[str, typer.Option(help="File split for model selection (English).")] = "dev",
    test_split: Annotated[str, typer.Option(help="File split to score.")] = "test",
    epochs: Annotated[int | None, typer.Option(help="Fine-tuning epochs (default: 2).")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Fine-tuning batch size (default: 32).")] = None,
    lr: Annotated[float | None, typer.Option(help="Fine-tuning peak learning rate (default: 2e-5).")] = None,
    layer_decay: Annotated[
        float | None, typer.Option(help="Layer-wise learning-rate decay (default: 0.8, ERNIE-M base's).")
    ] = None,
    max_length: Annotated[int | None, typer.Option(help="Tokens per input (default: 384 for mlqa, else 128).")] = None,
    max_train_examples: Annotated[int | None, typer.Option(help="Fine-tune on a seeded sample of this many.")] = None,
    seed: Annotated[int | None, typer.Option(help="Fine-tuning seed (default: 0).")] = None,
    layer: Annotated[
        int | None,
        typer.Option(
            help="tatoeba, bucc, heldout, xnli-retrieval: hidden layer to pool (default: XTREME's 8 of 12, scaled)."
        ),
    ] = None,
    resume: Annotated[
        bool, typer.Option(help="Continue an interrupted fine-tuning of the same task and setting in --out.")
    ] = False,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Fine-tune (or, for the retrieval tasks, only encode) and score a model per language; write JSON, table and
    chart."""
    from ernie_m.evaluate.finetune import FinetuneConfig
    from ernie_m.evaluate.report import language_table
    from ernie_m.evaluate.tasks import EvalSettings, check_options
    from ernie_m.evaluate.tasks import evaluate as evaluate_task

    with _errors():
        model = local_model(model)
        given = {
            "--setting": None if setting == "transfer" else setting,
            "--train-split": None if train_split == "train" else train_split,
            "--epochs": epochs,
            "--batch-size": batch_size,
            "--lr": lr,
            "--layer-decay": layer_decay,
            "--seed": seed,
            "--max-train-examples": max_train_examples,
            "--resume": resume or None,
            "--layer": layer,
        }
        spec = check_options(task, setting, [name for name, value in given.items() if value is not None])
        finetuning = dict(epochs=epochs, batch_size=batch_size, lr=lr, layer_decay=layer_decay, seed=seed)
        settings = EvalSettings(
            task=task,
            model_dir=model,
            data_dir=data,
            languages=_codes(languages),
            setting=setting,
            train_split=train_split,
            dev_split=dev_split,
            test_split=test_split,
            max_train_examples=max_train_examples,
            finetune=FinetuneConfig(
                **{key: value for key, value in finetuning.items() if value is not None},
                max_length=spec.max_length if max_length is None else max_length,
            ),
            layer=layer,
            progress=progress,
        )
        result, files = evaluate_task(settings, out, resume)
        typer.echo(language_table(result))
        typer.echo("written: " + ", ".join(str(f) for f in files))


@app.command()
def report(
    results: Annotated[list[Path], typer.Argument(help="Directories of `ernie-m evaluate` results (one a model).")],
) -> None:
    """One summary table across every task result in the directories: a row per model."""
    from ernie_m.evaluate.report import read_results, summary_table

    with _errors():
        for directory in results:
            if not directory.is_dir():
                raise ErnieMError(f"{directory}: no such results directory")
        typer.echo(summary_table([result for directory in results for result in read_results(directory)]))


@app.command()
def encode(
    model: Annotated[Path, typer.Option(help="A model directory with its tokenizer, or a hub id in the local cache.")],
    input: Annotated[Path, typer.Option(help="UTF-8 text, one sentence a line.")],
    out: Annotated[Path, typer.Option(help="Where to write the (N, hidden) float32 array (.npy).")],
    layer: Annotated[
        int | None, typer.Option(help="Hidden layer (0 = embeddings); default: XTREME's 8 of 12, scaled.")
    ] = None,
    pooling: Annotated[str, typer.Option(help="mean or cls.")] = "mean",
    batch_size: Annotated[int, typer.Option()] = 64,
) -> None:
    """Turn sentences into vectors (the embedding behind Tatoeba and BUCC)."""
    import numpy as np

    from ernie_m.data.corpus import read_corpus_lines
    from ernie_m.evaluate.encode import encode_dir
    from ernie_m.files import write_atomically

    with _errors():
        sentences = read_corpus_lines(input)
        blank = next((number for number, line in enumerate(sentences, start=1) if not line), None)
        if blank is not None:
            raise ErnieMError(f"{input}: line {blank} is blank; encode takes one sentence a line, row i for line i")
        vectors = encode_dir(local_model(model), sentences, layer=layer, pooling=pooling, batch_size=batch_size)

        def save(partial: Path) -> None:
            with open(partial, "wb") as stream:  # a file object: np.save would append .npy to a name
                np.save(stream, vectors, allow_pickle=False)

        write_atomically(out, save)
        typer.echo(f"{vectors.shape[0]:,} vectors of {vectors.shape[1]} dimensions written to {out}")


@contextmanager
def _errors():
    """Turn ErnieMError, and a disk that refuses a write, into `error: ...` on stderr and exit status 2."""
    from ernie_m.files import disk_error

    try:
        yield
    except Exception as error:
        problem = error if isinstance(error, ErnieMError) else disk_error(error)
        if problem is None:
            raise
        typer.echo(f"error: {problem}", err=True)
        raise typer.Exit(2) from None


def _inputs(config, mono_only: str | None, cache: Path, corpus: Path | None):
    """The demo's and the ablation's corpus and tokenizer settings (default monolingual-only languages: MONO_ONLY)."""
    from ernie_m.experiments.inputs import MONO_ONLY, Inputs

    if corpus is not None and mono_only is not None:
        raise ErnieMError(
            "--mono-only is for the catalog corpus; a --corpus keeps the monolingual-only languages it was built with"
        )
    return Inputs(config, MONO_ONLY if mono_only is None else _codes(mono_only), cache, corpus=corpus)


def _base_steps(given: int | None) -> int:
    if given is not None and given < 1:
        raise ErnieMError(f"--base-steps {given}: the base needs at least one step")
    return BASE_STEPS if given is None else given


def _load_config(path: Path, overrides: list[str] | None):
    """The config file with its --set overrides; every objective its stages name must be registered."""
    from ernie_m.config import load_config
    from ernie_m.objectives.registry import check_names

    config = load_config(path, overrides or [])
    check_names(config)
    return config


def _scoring(inputs, xnli: Path | None, tatoeba: Path | None, conll: Path | None):
    """What the demo's and the ablation's runs are scored on; a folder without the files fails before anything is
    trained."""
    from ernie_m.evaluate import readers
    from ernie_m.experiments.inputs import tatoeba_languages, xnli_languages
    from ernie_m.experiments.scored import CONLL_LANGUAGES, Scoring

    for lang in CONLL_LANGUAGES if conll is not None else ():
        for split in ("train", "dev", "test") if lang == "en" else ("test",):
            readers.task_files("conll", conll, split, lang)  # names what it looked for when absent
    return Scoring(
        xnli=xnli,
        xnli_languages=xnli_languages(inputs, xnli, "dev") if xnli else (),
        tatoeba=tatoeba,
        tatoeba_languages=tatoeba_languages(inputs, tatoeba) if tatoeba else (),
        conll=conll,
    )


@contextmanager
def _interruptible():
    """Ctrl-C: say what is kept and how to continue, and exit with status 130."""
    try:
        yield
    except KeyboardInterrupt:
        typer.echo(
            "\ninterrupted: no report was written; what was finished (corpus, tokenizer, runs, the last checkpoint) "
            "is kept: run the same command again to continue",
            err=True,
        )
        raise typer.Exit(130) from None


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    app(prog_name="ernie-m")


if __name__ == "__main__":
    sys.exit(main())
