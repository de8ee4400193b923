"""Throughput of `ernie_m.evaluate.encode` on a base-size encoder, and the time to score one Tatoeba pair.

    python benchmarks/encode.py [--sentences 1000 --pair 1000 --batch 64 --device auto --out FILE.json]

The model is a random XLM-R of base size in its layers (12 x 768, 12 heads, FFN 3072) but with a
small vocabulary: a SentencePiece tokenizer of `--vocab` pieces trained here on synthetic text (a
250,002-piece XLM-R tokenizer would need a download). The vocabulary only sizes the embedding
lookup, which is no measurable part of a forward pass, so the figures hold for XLM-R base. The
synthetic sentences are 3-14 made-up words; the table reports their mean token count (specials
included), the figure a reader should compare with real text.

Rows (all mean pooling, batch `--batch`; on CUDA after one untimed pass over the same sentences):
- tokenizer only: the host-side work every row includes;
- layer 8 (the default for 12 layers): the encoder stops after layer 8;
- layer 12: the whole model, what stopping early saves;
- layer 8, input order: batches of consecutive sentences, no length sorting, what sorting saves;
- Tatoeba pair: encode `--pair` sentences on each side, cosine similarity, argmax both directions.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from measure import Clock
from transformers import XLMRobertaConfig, XLMRobertaModel

from ernie_m.data.tokenizer import train_tokenizer
from ernie_m.evaluate.encode import encode

SYLLABLES = "ka to mi ne ra su lo pe vi da ko ri ta me no sa lu be gi fo ha ju ze wa xi qu".split()


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sentences", type=int, default=1000, help="sentences per throughput row")
    parser.add_argument("--pair", type=int, default=1000, help="sentences per side of the Tatoeba pair")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--vocab", type=int, default=2000)
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--hidden", type=int, default=768)
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--out", type=Path, help="also write context and rows as JSON")
    return parser.parse_args(argv)


def synthetic_sentences(count: int, seed: int) -> list[str]:
    """Sentences of 3-14 words, each word 1-3 syllables from a fixed word list of 3,000."""
    rng = random.Random(0)
    words = ["".join(rng.choices(SYLLABLES, k=rng.randint(1, 3))) for _ in range(3000)]
    rng = random.Random(seed)
    return [" ".join(rng.choices(words, k=rng.randint(3, 14))).capitalize() + "." for _ in range(count)]


def base_model(vocab_size: int, layers: int, hidden: int, device: torch.device) -> XLMRobertaModel:
    torch.manual_seed(0)
    config = XLMRobertaConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=hidden // 64,
        intermediate_size=4 * hidden,
        max_position_embeddings=514,
        type_vocab_size=1,
        pad_token_id=1,
    )
    return XLMRobertaModel(config, add_pooling_layer=False).to(device).eval()


HEADER = ("run", "sentences", "sentences/s", "tokens/s", "time", "other load")


def row(name: str, sentences: int, tokens: int, clock: Clock) -> tuple:
    per_second = f"{tokens / clock.seconds:,.0f}" if tokens else ""
    return (
        name,
        f"{sentences:,}",
        f"{sentences / clock.seconds:,.0f}",
        per_second,
        f"{clock.seconds:.2f} s",
        clock.other_load,
    )


def throughput_rows(model, tokenizer, args: argparse.Namespace) -> list[tuple]:
    sentences = synthetic_sentences(args.sentences, seed=1)
    tokens = sum(len(ids) for ids in tokenizer(sentences)["input_ids"])
    middle, last = round(8 * args.layers / 12), args.layers
    runs = {
        "tokenizer only": lambda: tokenizer(sentences, truncation=True, max_length=128),  # the host's share
        f"layer {middle}, sorted by length": lambda: encode(sentences, model, tokenizer, batch_size=args.batch),
        f"layer {last}, sorted by length": lambda: encode(
            sentences, model, tokenizer, layer=last, batch_size=args.batch
        ),
        f"layer {middle}, input order": lambda: in_input_order(sentences, model, tokenizer, args.batch),
    }
    if model.device.type == "cuda":  # untimed whole-model pass: the first batch of each new length picks kernels
        encode(sentences, model, tokenizer, layer=last, batch_size=args.batch)
    rows = []
    for name, run in runs.items():
        with Clock() as clock:
            run()
        rows.append(row(name, len(sentences), tokens, clock))
    return rows


def in_input_order(sentences: list[str], model, tokenizer, batch: int) -> np.ndarray:
    """Batches of consecutive sentences: `encode` sorts only within each call."""
    chunks = [sentences[i : i + batch] for i in range(0, len(sentences), batch)]
    return np.concatenate([encode(chunk, model, tokenizer, batch_size=batch) for chunk in chunks])


def tatoeba_row(model, tokenizer, args: argparse.Namespace) -> tuple[tuple, dict]:
    """Encode both sides, cosine similarity, nearest neighbour in both directions."""
    source, english = synthetic_sentences(args.pair, seed=2), synthetic_sentences(args.pair, seed=3)
    with Clock() as total:
        with Clock() as encoding:
            x, y = (encode(side, model, tokenizer, batch_size=args.batch) for side in (source, english))
        with Clock() as scoring:
            x /= np.linalg.norm(x, axis=1, keepdims=True)
            y /= np.linalg.norm(y, axis=1, keepdims=True)
            similarity = x @ y.T  # (N, N) cosine
            found = (similarity.argmax(axis=1), similarity.argmax(axis=0))  # X->en, en->X
    assert all(f.shape == (args.pair,) for f in found)
    seconds = f"encode {encoding.seconds:.2f} s + score {1000 * scoring.seconds:.0f} ms"
    name = f"Tatoeba pair {args.pair:,} x {args.pair:,} ({seconds})"
    timing = {"encode_s": encoding.seconds, "score_s": scoring.seconds, "total_s": total.seconds}
    return row(name, 2 * args.pair, 0, total), timing


def markdown(header: tuple[str, ...], rows: list[tuple]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    lines += [
        "| " + " | ".join(f"{cell:.2f}" if isinstance(cell, float) else str(cell) for cell in r) + " |" for r in rows
    ]
    return "\n".join(lines)


def describe(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, bf16 autocast"
    return f"CPU, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}, fp32"


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(args.device)
    with tempfile.TemporaryDirectory() as work:
        tokenizer = train_tokenizer(
            synthetic_sentences(20_000, seed=0), Path(work) / "tokenizer", vocab_size=args.vocab
        )
    model = base_model(len(tokenizer), args.layers, args.hidden, device)
    # warm-up: allocator, threads
    encode(synthetic_sentences(args.batch, seed=9), model, tokenizer, batch_size=args.batch)
    rows = throughput_rows(model, tokenizer, args)
    pair, timing = tatoeba_row(model, tokenizer, args)
    rows.append(pair)
    mean_tokens = np.mean([len(ids) for ids in tokenizer(synthetic_sentences(args.sentences, seed=1))["input_ids"]])
    print(f"- device: {describe(device)}; torch {torch.__version__}, Python {platform.python_version()}")
    print(f"- model: random XLM-R, {args.layers} layers x {args.hidden}, vocab {len(tokenizer):,} "
          "(a tokenizer trained here; XLM-R base has 250,002)")  # fmt: skip
    print(
        f"- sentences: synthetic, {mean_tokens:.1f} tokens on average (specials included); batch {args.batch}, mean "
        "pooling"
    )
    print("- other load: cores used by other processes during the row; near 0, or the figure suffers\n")
    print(markdown(HEADER, rows))
    if args.out:
        result = {"device": describe(device), "mean_tokens": float(mean_tokens), "tatoeba": timing}
        args.out.write_text(json.dumps({**result, "rows": [dict(zip(HEADER, r, strict=True)) for r in rows]}, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
