"""Time and peak memory of `ernie-m convert` on checkpoints of ERNIE-M's real sizes.

    python benchmarks/convert.py [--sizes base,large --layouts paddle,hf-erniem --out FILE.json]

Each source checkpoint is written here with random weights at the released shapes (vocabulary
250,002, 514 positions; base 12 x 768, large 24 x 1024, FFN 4 x hidden) and a synthetic SentencePiece
model of 250,000 pieces with its vocab.txt, so nothing is downloaded. The conversion runs in a fresh
process (`ernie-m convert`), whose peak resident memory is read from the kernel; then
`transformers.AutoModel` loads the result once and runs one forward pass, timed as well.
"""

from __future__ import annotations

import argparse
import json
import pickle
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import Clock, cpu_name  # noqa: E402

SIZES = {"base": (12, 768, 12), "large": (24, 1024, 16)}  # layers, hidden, heads
VOCAB, POSITIONS = 250_002, 514


def write_tokenizer(folder: Path) -> None:
    """A SentencePiece model of VOCAB - 2 made-up pieces and ERNIE-M's vocab.txt over them."""
    from sentencepiece import sentencepiece_model_pb2

    model = sentencepiece_model_pb2.ModelProto()
    model.trainer_spec.model_type = sentencepiece_model_pb2.TrainerSpec.UNIGRAM
    for text, kind in (("<unk>", 2), ("<s>", 3), ("</s>", 3)):  # UNKNOWN, CONTROL
        piece = model.pieces.add()
        piece.piece, piece.score, piece.type = text, 0.0, kind
    pieces = [f"\u2581w{i}" for i in range(VOCAB - 5)]
    for i, text in enumerate(pieces):
        piece = model.pieces.add()
        piece.piece, piece.score = text, -1.0 - i * 1e-5
    (folder / "sentencepiece.bpe.model").write_bytes(model.SerializeToString())
    (folder / "vocab.txt").write_text(
        "\n".join(["[CLS]", "[PAD]", "[SEP]", "[UNK]", *pieces, "[MASK]"]) + "\n", encoding="utf-8"
    )


def write_weights(folder: Path, layout: str, size: str) -> None:
    layers, hidden, heads = SIZES[size]
    rng = np.random.default_rng(0)

    def matrix(rows: int, cols: int) -> np.ndarray:  # torch layout (out, in)
        return rng.standard_normal((rows, cols), dtype=np.float32) * 0.02

    state = {
        "embeddings.word_embeddings.weight": matrix(VOCAB, hidden),
        "embeddings.position_embeddings.weight": matrix(POSITIONS, hidden),
        "embeddings.layer_norm.weight": np.ones(hidden, np.float32),
        "embeddings.layer_norm.bias": np.zeros(hidden, np.float32),
        "pooler.dense.weight": matrix(hidden, hidden),
        "pooler.dense.bias": np.zeros(hidden, np.float32),
    }
    attention = "self_attn." if layout == "paddle" else "self_attn.self_attn."
    for layer in range(layers):
        prefix = f"encoder.layers.{layer}."
        shapes = {
            f"{attention}q_proj": (hidden, hidden),
            f"{attention}k_proj": (hidden, hidden),
            f"{attention}v_proj": (hidden, hidden),
            "self_attn.out_proj": (hidden, hidden),
            "linear1": (4 * hidden, hidden),
            "linear2": (hidden, 4 * hidden),
        }
        for name, (rows, cols) in shapes.items():
            state[prefix + name + ".weight"], state[prefix + name + ".bias"] = (
                matrix(rows, cols),
                np.zeros(rows, np.float32),
            )
        for norm in ("norm1", "norm2"):
            state[prefix + norm + ".weight"], state[prefix + norm + ".bias"] = (
                np.ones(hidden, np.float32),
                np.zeros(hidden, np.float32),
            )
    if layout == "paddle":  # Linear weights (in, out)
        state = {
            name: value.T.copy() if value.ndim == 2 and not name.startswith("embeddings.") else value
            for name, value in state.items()
        }
        with open(folder / "model_state.pdparams", "wb") as stream:
            pickle.dump(state, stream, protocol=4)
        (folder / "model_config.json").write_text(json.dumps({"num_attention_heads": heads}))
    else:
        torch.save({name: torch.from_numpy(value) for name, value in state.items()}, folder / "pytorch_model.bin")
        (folder / "config.json").write_text(json.dumps({"model_type": "ernie_m", "num_attention_heads": heads}))


def convert(src: Path, out: Path, layout: str) -> tuple[float, float, float]:
    """Seconds, peak RSS in GB of the converting process, and the other processes' CPU load meanwhile."""
    script = (
        "import resource, sys\nfrom ernie_m.convert.checkpoint import convert_checkpoint\n"
        "convert_checkpoint(sys.argv[1], sys.argv[2], sys.argv[3])\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    with Clock() as clock:
        done = subprocess.run(
            [sys.executable, "-c", script, layout, str(src), str(out)], capture_output=True, text=True, check=True
        )
    return clock.seconds, int(done.stdout.split()[-1]) / 1e6, clock.other_load


def load_and_run(out: Path) -> float:
    from transformers import AutoModel, AutoTokenizer

    from ernie_m.model import quiet_transformers

    with Clock() as clock, quiet_transformers():  # its load report lists the MLM head that AutoModel leaves out
        tokenizer = AutoTokenizer.from_pretrained(out)
        model = AutoModel.from_pretrained(out).eval()
        with torch.no_grad():
            model(**tokenizer(["\u2581w1 w2 w3"] * 8, return_tensors="pt"))
    return clock.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="base", help="comma-separated: base, large")
    parser.add_argument("--layouts", default="paddle,hf-erniem")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rows = []
    for size in args.sizes.split(","):
        for layout in args.layouts.split(","):
            with tempfile.TemporaryDirectory() as tmp:
                src, out = Path(tmp) / "src", Path(tmp) / "out"
                src.mkdir()
                write_tokenizer(src)
                write_weights(src, layout, size)
                seconds, peak, load = convert(src, out, layout)
                weights_gb = (out / "model.safetensors").stat().st_size / 1e9
                rows.append(
                    {
                        "size": size,
                        "layout": layout,
                        "convert_s": round(seconds, 1),
                        "peak_rss_gb": round(peak, 2),
                        "weights_gb": round(weights_gb, 2),
                        "load_and_forward_s": round(load_and_run(out), 1),
                        "other_load": round(load, 2),
                    }
                )
                print(rows[-1], flush=True)
    print(f"\n{cpu_name()}, {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6:.1f} GB peak in this process\n")
    print("| size | layout | convert (s) | peak RSS (GB) | model.safetensors (GB) | load + forward (s) | other load |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['size']} | {row['layout']} | {row['convert_s']} | {row['peak_rss_gb']} | {row['weights_gb']} | "
            f"{row['load_and_forward_s']} | {row['other_load']} |"
        )
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
