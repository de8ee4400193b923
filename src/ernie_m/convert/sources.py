"""The files of a released ERNIE-M checkpoint, found and read without the framework that wrote it.

    paddle     PaddleNLP: one `*.pdparams` (model_state.pdparams, ernie_m_base.pdparams, ...; or the
               `.index.json` of shards, or the `.safetensors` of PaddleNLP's safe serialisation),
               model_config.json or config.json (optional), sentencepiece.bpe.model and vocab.txt
               (also under their download names ernie_m.sentencepiece.bpe.model, ernie_m.vocab.txt)
    hf-erniem  transformers 4.x `ErnieM` port: config.json (model_type "ernie_m"), pytorch_model.bin
               or model.safetensors (or their sharded `.index.json` forms), the same two tokenizer files

`--src` is the directory, or for paddle the `.pdparams` file itself (the other files beside it).
Weights come back as float32 numpy arrays under their names in the file. Nothing in a file is run:
`.pdparams` goes through `pdparams.read_pdparams`, `.bin` through `torch.load(weights_only=True)`.
"""

from __future__ import annotations

import dataclasses
import json
import pickle
from pathlib import Path

import numpy as np
import safetensors.torch
import torch

from ernie_m.convert.pdparams import read_pdparams
from ernie_m.errors import ErnieMError, first_line

LAYOUTS = ("paddle", "hf-erniem")
HF_WEIGHTS = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json", "pytorch_model.bin.index.json")


@dataclasses.dataclass
class Source:
    """What a released checkpoint holds: its weights, its config (empty if it has none), its tokenizer files."""

    layout: str
    weights_path: Path
    weights: dict[str, np.ndarray]
    config: dict
    sentencepiece_file: Path
    vocab_file: Path


def read_source(layout: str, src: Path) -> Source:
    """Find and read the checkpoint at `src` in `layout`; errors say what was expected and what is there."""
    src = Path(src)
    if layout not in LAYOUTS:
        raise ErnieMError(f"unknown layout {layout!r}: expected one of {', '.join(LAYOUTS)}")
    if not src.exists():
        raise ErnieMError(f"{src}: no such file or directory")
    folder = src.parent if src.is_file() else src
    if layout == "paddle":
        weights_path, config = _paddle_weights(src), _paddle_config(folder)
    else:
        if src.is_file():
            raise ErnieMError(
                f"{src}: --from hf-erniem takes the model directory (config.json and weights), not a file"
            )
        config, weights_path = _hf_config(folder), _hf_weights(folder)
    weights = {name: _float32(name, array, weights_path) for name, array in read_weights(weights_path).items()}
    return Source(layout, weights_path, weights, config, *_tokenizer_files(folder))


def read_weights(path: Path) -> dict[str, np.ndarray]:
    """Name -> array from a .pdparams, .safetensors or .bin file, or from every shard an `.index.json` names.

    Floating-point tensors come back as float32; PaddlePaddle stores bfloat16 as uint16 bit patterns,
    which are decoded here."""
    if path.name.endswith(".index.json"):
        shards = sorted(set(_read_json(path).get("weight_map", {}).values()))
        if not shards:
            raise ErnieMError(f"{path}: its weight_map names no shard files")
        return {name: array for shard in shards for name, array in read_weights(path.parent / shard).items()}
    if not path.is_file():
        raise ErnieMError(f"{path}: weights file missing")
    if path.suffix == ".pdparams":
        return {
            name: _from_bfloat16_bits(array) if array.dtype == np.uint16 else array
            for name, array in read_pdparams(path).items()
        }
    try:
        if path.suffix == ".safetensors":
            state = safetensors.torch.load_file(path)
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)  # builds tensors and containers only
    except pickle.UnpicklingError:  # torch's own message advises weights_only=False: never, for a file not trusted
        raise ErnieMError(
            f"{path}: refused: it holds Python objects beside tensors, which could run code when "
            "loaded; ernie-m reads tensors only (save the weights as safetensors where you trust the file)"
        ) from None
    except Exception as error:  # torch and safetensors raise many types for a bad file; all mean "unreadable"
        raise ErnieMError(f"{path}: cannot read the weights ({first_line(error)})") from None
    return {name: (tensor.float() if tensor.is_floating_point() else tensor).numpy() for name, tensor in state.items()}


def _from_bfloat16_bits(bits: np.ndarray) -> np.ndarray:
    return (bits.astype(np.uint32) << 16).view(np.float32)


def _float32(name: str, array: np.ndarray, path: Path) -> np.ndarray:
    if array.dtype.kind != "f":
        raise ErnieMError(f"{path}: entry {name!r} holds {array.dtype} values; weights must be floating point")
    return array.astype(np.float32, copy=False)


def _paddle_weights(src: Path) -> Path:
    """A .pdparams (or .safetensors) file, or the `.index.json` of a sharded checkpoint."""
    if src.is_file():
        if src.suffix not in (".pdparams", ".safetensors"):
            raise ErnieMError(f"{src}: --from paddle expects a .pdparams file or a directory holding one")
        return src
    for pattern in ("*.pdparams.index.json", "*.pdparams", "*.safetensors.index.json", "*.safetensors"):
        if any(src.glob(pattern)):
            return _single(src, pattern, "")
    raise ErnieMError(f"{src}: no .pdparams file{_transformers_hint(src)}")


def _transformers_hint(folder: Path) -> str:
    """What a folder with a transformers config holds instead, for the error message."""
    try:
        model_type = json.loads((folder / "config.json").read_text(encoding="utf-8")).get("model_type")
    except (OSError, ValueError, AttributeError):
        return ""
    if model_type == "ernie_m" and any((folder / name).is_file() for name in HF_WEIGHTS):
        return " (it holds transformers ErnieM weights: use --from hf-erniem)"
    if model_type == "xlm-roberta":
        return " (it is already in the XLM-R layout: use it as it is)"
    return ""


def _paddle_config(folder: Path) -> dict:
    """PaddleNLP's config (model_config.json, or config.json from PaddleNLP 2.5 on); {} if there is none.

    Older files nest the arguments as {"init_args": [{...}], "init_class": ...}."""
    for name in ("config.json", "model_config.json"):
        if (folder / name).is_file():
            config = _read_json(folder / name)
            nested = config.get("init_args")
            if isinstance(nested, list) and nested and isinstance(nested[0], dict):
                return {**nested[0], **{k: v for k, v in config.items() if k != "init_args"}}
            return config
    return {}


def _hf_config(folder: Path) -> dict:
    path = folder / "config.json"
    if not path.is_file():
        hint = " (it holds a .pdparams file: use --from paddle)" if any(folder.glob("*.pdparams")) else ""
        raise ErnieMError(f"{folder}: no config.json{hint}")
    config = _read_json(path)
    if config.get("model_type") != "ernie_m":
        found = config.get("model_type", "none")
        hint = ": it is already in the XLM-R layout, use it as it is" if found == "xlm-roberta" else ""
        raise ErnieMError(f"{path}: model_type is {found!r}, expected 'ernie_m' for --from hf-erniem{hint}")
    return config


def _hf_weights(folder: Path) -> Path:
    for name in HF_WEIGHTS:
        if (folder / name).is_file():
            return folder / name
    hint = " (it holds a .pdparams file: use --from paddle)" if any(folder.glob("*.pdparams")) else ""
    raise ErnieMError(f"{folder}: no weights (expected one of {', '.join(HF_WEIGHTS)}){hint}")


def _tokenizer_files(folder: Path) -> tuple[Path, Path]:
    """sentencepiece.bpe.model and vocab.txt, under their saved or their download names."""
    return _one_of(folder, "sentencepiece.bpe.model"), _one_of(folder, "vocab.txt")


def _one_of(folder: Path, name: str) -> Path:
    if (folder / name).is_file():
        return folder / name
    return _single(
        folder,
        f"*.{name}",
        f"no {name} (ERNIE-M's tokenizer needs sentencepiece.bpe.model and vocab.txt beside the weights)",
    )


def _single(folder: Path, pattern: str, when_none: str) -> Path:
    """The one file in `folder` matching `pattern`; an error when there are none or several."""
    found = sorted(folder.glob(pattern))
    if len(found) == 1:
        return found[0]
    if found:
        raise ErnieMError(
            f"{folder}: several {pattern} files ({', '.join(p.name for p in found)}); keep only the one to convert"
        )
    raise ErnieMError(f"{folder}: {when_none}")


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ErnieMError(f"{path}: not valid JSON ({first_line(error)})") from None
    if not isinstance(data, dict):
        raise ErnieMError(f"{path}: expected a JSON object")
    return data
