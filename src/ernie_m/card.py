"""Model cards: the README.md that makes a model directory ready to push to a model hub as is.

A card opens with the hub's YAML metadata, then says how to load the model, what its language
embeddings stand for, and where the weights come from (a conversion, or a pre-training run with its
objectives, data, steps and, when there are any, evaluation results).
"""

from __future__ import annotations

import yaml

from ernie_m.provenance import tool_version

RUN_SUMMARY = "ernie_m_run.json"  # beside a pre-training export's weights: what its card is written from
USAGE = """```python
from transformers import AutoModel, AutoTokenizer

tokenizer = AutoTokenizer.from_pretrained("{path}")  # this folder, or its name on the hub
model = AutoModel.from_pretrained("{path}")
inputs = tokenizer(["{example}"], return_tensors="pt")
hidden = model(**inputs).last_hidden_state  # (batch, tokens, {hidden})
```"""


def front_matter(languages: list[str], pipeline_tag: str) -> str:
    """The hub's metadata block."""
    meta = {
        "library_name": "transformers",
        "pipeline_tag": pipeline_tag,
        "tags": ["ernie-m", "xlm-roberta", "cross-lingual"],
    }
    if languages:
        meta = {"language": list(languages), **meta}
    return f"---\n{yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)}---\n"


def usage(path: str, hidden_size: int, example: str = "A sentence in any language.") -> str:
    return USAGE.format(path=path, hidden=hidden_size, example=example)


def language_table(languages: list[str]) -> str:
    """Row i of the token-type table and the language it stands for (row 0: none)."""
    rows = ["| token_type_ids | language |", "|---|---|", "| 0 | none (XLM-R's row: text of any language) |"]
    rows += [f"| {row} | {language} |" for row, language in enumerate(languages, start=1)]
    return "\n".join(rows)


def markdown_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def converted_card(name: str, layout: str, source_name: str, config, ignored: list[str], has_pooler: bool) -> str:
    """The card of an ERNIE-M checkpoint converted to the XLM-R layout."""
    sizes = markdown_table(
        ["layers", "hidden", "heads", "feed-forward", "vocabulary", "positions"],
        [
            [
                config.num_hidden_layers,
                config.hidden_size,
                config.num_attention_heads,
                config.intermediate_size,
                config.vocab_size,
                config.max_position_embeddings - 2,
            ]
        ],
    )
    dropped = f"\n- Left out (task heads, not the encoder): {', '.join(ignored)}." if ignored else ""
    pooler = (
        "The pooler is ERNIE-M's."
        if has_pooler
        else "The source had no pooler: `AutoModel`'s pooler is freshly initialised."
    )
    return f"""{front_matter([], "feature-extraction")}
# ERNIE-M in the XLM-R layout

ERNIE-M (Ouyang et al., EMNLP 2021) converted by {tool_version()} from the {layout} checkpoint
`{source_name}`. It loads with transformers' XLM-R classes and, given the attention mask that its
tokenizer returns, computes what the original computes (with no mask at all, XLM-R attends to padding).

{usage(name, config.hidden_size)}

{sizes}

## What the conversion did
- Weights renamed to XLM-R's; PaddlePaddle's (in, out) Linear weights transposed.
- No token-type input in ERNIE-M: the one-row token-type table is zeros. `ernie-m pretrain --init-from`
  adds one row per language, each starting as that zero row.
- {pooler}
- ERNIE-M was released without its MLM head: `lm_head` is a fresh initialisation (seed 0), to be
  trained before the model predicts masked tokens.
- Tokenizer: ERNIE-M's ids (vocab.txt) and SentencePiece model; inputs framed as `[CLS] A [SEP] [SEP] B [SEP]`.
  ERNIE-M's own tokenizer cuts pieces further around CJK characters, the punctuation ,;:.?!~ and
  digit boundaries, and drops standalone "▁" pieces; this one keeps SentencePiece's pieces.{dropped}
"""


def run_card(summary: dict, evaluation: str | None = None) -> str:
    """The card of a pre-training run's export, from its summary (`ernie_m_run.json`) and evaluation tables, if any."""
    model, training, data = summary["model"], summary["training"], summary["data"]
    start = f"continuing from `{summary['init_from']}`" if summary["init_from"] else "from a random initialisation"
    trained = [name for stage in training["stages"] for name, weight in stage["objectives"].items() if weight > 0]
    # Titles in the registry's order; a summary of an earlier version has none: the names in capitals, as trained.
    titles = training.get("objectives") or {name: name.upper() for name in dict.fromkeys(trained)}
    objectives = [name for name in titles if name in trained] + [n for n in dict.fromkeys(trained) if n not in titles]
    stages = markdown_table(
        ["stage", "steps", "objectives (sampling weights)"],
        [
            [
                stage["name"],
                f"{stage['steps']:,}",
                ", ".join(f"{titles.get(n, n)} {w:g}" for n, w in stage["objectives"].items() if w > 0),
            ]
            for stage in training["stages"]
        ],
    )
    sizes = markdown_table(
        ["layers", "hidden", "heads", "feed-forward", "vocabulary", "parameters"],
        [
            [
                model["layers"],
                model["hidden"],
                model["heads"],
                model["intermediate"],
                f"{model['vocab_size']:,}",
                f"{model['parameters']:,}",
            ]
        ],
    )
    pairs = (
        markdown_table(["pair", "sentence pairs"], [[pair, f"{n:,}"] for pair, n in data["pairs"].items()])
        if data["pairs"]
        else "none"
    )
    mono = (
        markdown_table(["language", "sentences"], [[lang, f"{n:,}"] for lang, n in data["monolingual"].items()])
        if data["monolingual"]
        else "none"
    )
    validation = summary.get("validation_losses") or {}
    losses = markdown_table(
        ["objective", "loss", "dev split"],
        [
            [
                titles.get(n, n),
                f"{summary['final_losses'][n]:.3f}",
                f"{validation[n]:.3f}" if n in validation else "-",
            ]
            for n in [*titles, *sorted(set(summary["final_losses"]) - set(titles))]
            if n in summary["final_losses"]
        ],
    )
    results = evaluation or (
        "None yet. Evaluate with `ernie-m evaluate TASK --model THIS_DIR --out EVAL`, then put the results in this "
        "card "
        "with `ernie-m card --model THIS_DIR --results EVAL`."
    )
    return f"""{front_matter(summary["languages"], "fill-mask")}
# {summary["name"]}

A cross-lingual encoder pre-trained with ERNIE-M's objectives ({", ".join(titles.get(n, n) for n in objectives)})
by {summary["tool"]}, {start}. It is a plain XLM-R (`XLMRobertaForMaskedLM`): no project code is needed to load it.

{usage(summary["name"], model["hidden"])}

## Language embeddings

ERNIE-M gives each language an embedding: here, rows of XLM-R's token-type table. Pass
`token_type_ids` filled with a language's row to mark its text, or nothing (row 0).

{language_table(summary["languages"])}

## Training

{sizes}

{stages}

{training["steps"]:,} steps, each of {training["batch_size"]} sequences x {training["processes"]} process(es)
x {training["grad_accum"]} accumulation step(s), up to {training["max_length"]} tokens a sequence; AdamW, learning
rate {training["lr"]:g} ({training["warmup_steps"]:,} warm-up steps, then linear decay); seed {training["seed"]}.

## Data

Corpus: {f"`{summary['corpus']}`" if summary["corpus"] else "the system's translation catalogs"}. After cleaning:

{pairs}

Monolingual text (besides the sides of the pairs):

{mono}

## Losses at the end of training

Mean of the last {summary["losses_over"]} logged values of each objective, and its loss on the corpus's
held-out dev split at the end (when the corpus has one):

{losses}

## Evaluation

{results}
"""
