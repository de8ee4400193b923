"""Tokenise a corpus once, in parallel, to memory-mapped arrays: `TextCorpus` -> shard directory -> `TokenizedCorpus`.

    shards/
      manifest.json                 format_version, fingerprint, max_tokens, counts; written last
      mono.de.ids.npy               int32, every token of German monolingual text
      mono.de.offsets.npy           int64, sequence i is ids[offsets[i]:offsets[i + 1]]
      pairs.de-en.de.ids.npy        the German side of the German-English pairs ...
      pairs.de-en.de.offsets.npy
      pairs.de-en.en.ids.npy        ... and the English side, row i of each being pair i
      pairs.de-en.en.offsets.npy

The contents are exactly what `tokenize_corpus` returns. `shard_fingerprint` tells whether
shards written earlier are still those of a corpus, tokenizer and settings.
"""

import functools
import hashlib
import json
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ernie_m.data.corpus import TextCorpus
from ernie_m.data.tokenized import (
    TokenArrays,
    TokenizedCorpus,
    assemble_corpus,
    check_max_tokens,
    encode_texts,
    progress_bar,
    sentence_groups,
)
from ernie_m.data.tokenizer import load_tokenizer
from ernie_m.errors import ErnieMError
from ernie_m.files import staged_directory

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
CHUNK = 2000  # sentences per worker task: big enough to amortise the round trip, small enough to balance the workers
# Files of a model directory that cannot change what its tokenizer does; hashing gigabytes of weights would cost
# more than the tokenising the fingerprint is meant to save.
_WEIGHT_SUFFIXES = {".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".h5", ".msgpack", ".onnx", ".gguf"}


def write_shards(
    corpus: TextCorpus,
    tokenizer_dir: Path,
    out_dir: Path,
    max_tokens: int,
    mono_from_parallel: bool = True,
    workers: int | None = None,
    progress: bool = False,
) -> Path:
    """Tokenise `corpus` as `tokenize_corpus` would, in `workers` processes (default: one per CPU); return `out_dir`.

    The directory appears complete or not at all; earlier shards there are replaced.
    """
    out_dir, tokenizer_dir = Path(out_dir), Path(tokenizer_dir)
    check_max_tokens(max_tokens)
    workers = (os.cpu_count() or 1) if workers is None else workers
    if workers < 1:
        raise ErnieMError(f"{out_dir}: workers must be at least 1, got {workers}")
    _check_replaceable(out_dir)
    fingerprint = shard_fingerprint(corpus, tokenizer_dir, max_tokens, mono_from_parallel)
    groups = sentence_groups(corpus)
    with progress_bar(groups, progress) as bar:
        encoded = _encode_in_workers(groups, tokenizer_dir, max_tokens, workers, bar)
    tokenized = assemble_corpus(corpus, encoded, mono_from_parallel)
    settings = {"fingerprint": fingerprint, "max_tokens": max_tokens, "mono_from_parallel": mono_from_parallel}
    _write_atomically(tokenized, settings, out_dir)
    return out_dir


def read_shards(path: Path) -> TokenizedCorpus:
    """The `TokenizedCorpus` of a shard directory, memory-mapped: no sequence is read until it is used."""
    path = Path(path)
    manifest = _read_manifest(path)
    mono = {lang: _load_arrays(path, entry) for lang, entry in manifest["mono"].items()}
    pairs = {
        tuple(pair["languages"]): (_load_arrays(path, pair["sides"][0]), _load_arrays(path, pair["sides"][1]))
        for pair in manifest["pairs"]
    }
    return TokenizedCorpus(mono=mono, pairs=pairs)


def shard_fingerprint(corpus: TextCorpus, tokenizer_dir: Path, max_tokens: int, mono_from_parallel: bool) -> str:
    """16 hex digits that change when anything the shards depend on does: the format, the settings,
    the tokenizer's files, a language or a sentence of the corpus (its dict order does not matter)."""
    return shard_key(corpus_fingerprint(corpus), tokenizer_fingerprint(tokenizer_dir), max_tokens, mono_from_parallel)


def shard_key(corpus_print: str, tokenizer_print: str, max_tokens: int, mono_from_parallel: bool) -> str:
    """`shard_fingerprint` from fingerprints already taken (a run takes them once, for its checkpoints too)."""
    digest = hashlib.blake2b(digest_size=8)
    _hash_json(digest, [FORMAT_VERSION, max_tokens, mono_from_parallel, corpus_print, tokenizer_print])
    return digest.hexdigest()


def corpus_fingerprint(corpus: TextCorpus) -> str:
    """16 hex digits that change when a language or a sentence of the corpus does."""
    digest = hashlib.blake2b(digest_size=8)
    for label, texts in sentence_groups(corpus):  # labels name the language and, for pairs, the pair
        _hash_json(digest, [label, len(texts)])
        # The lengths make the join unambiguous, whatever characters the sentences hold.
        digest.update(np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)).tobytes())
        digest.update("\n".join(texts).encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def tokenizer_fingerprint(directory: Path) -> str:
    """16 hex digits over the name and bytes of every file of a tokenizer (or model) directory but weights."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ErnieMError(f"{directory}: tokenizer directory does not exist")
    digest = hashlib.blake2b(digest_size=8)
    for file in sorted(directory.iterdir()):
        if file.is_file() and file.suffix not in _WEIGHT_SUFFIXES:
            data = file.read_bytes()
            _hash_json(digest, [file.name, len(data)])
            digest.update(data)
    return digest.hexdigest()


# --- tokenising in worker processes -----------------------------------------------------------


def _encode_in_workers(
    groups: list[tuple[str, list[str]]], tokenizer_dir: Path, max_tokens: int, workers: int, bar: tqdm
) -> list[TokenArrays]:
    """The truncated ids of each group's sentences, tokenised chunk by chunk in a pool of processes."""
    chunks = [
        (index, texts[start : start + CHUNK])
        for index, (_, texts) in enumerate(groups)
        for start in range(0, len(texts), CHUNK)
    ]
    tasks = [(str(tokenizer_dir), max_tokens, texts) for _, texts in chunks]
    if workers == 1:  # in this process: no start-up cost, and the tokenizer's own threads still use every core
        tokenizer = load_tokenizer(tokenizer_dir)
        return _collect(groups, chunks, (encode_texts(tokenizer, texts, max_tokens) for _, _, texts in tasks), bar)
    # "spawn": a forked child would inherit the parent's tokenizer threads and torch state, which are not fork-safe.
    # An executor rather than a Pool: a worker that dies (killed for memory) is an error here, not a hang.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max(1, min(workers, len(chunks))), mp_context=context) as pool:
        return _collect(groups, chunks, pool.map(_encode_chunk, tasks), bar)


def _collect(
    groups: list[tuple[str, list[str]]], chunks: list[tuple[int, list[str]]], results, bar: tqdm
) -> list[TokenArrays]:
    """Each group's arrays, from the per-chunk results in chunk order."""
    parts: list[list[TokenArrays]] = [[] for _ in groups]
    for (index, _), arrays in zip(chunks, results, strict=True):
        bar.set_postfix_str(groups[index][0])
        bar.update(len(arrays))
        parts[index].append(arrays)
    return [TokenArrays.concatenate(group_parts) for group_parts in parts]


def _encode_chunk(task: tuple[str, int, list[str]]) -> TokenArrays:
    """Worker side: the truncated ids of one chunk."""
    tokenizer_dir, max_tokens, texts = task
    return encode_texts(_worker_tokenizer(tokenizer_dir), texts, max_tokens)


@functools.cache
def _worker_tokenizer(tokenizer_dir: str):
    """The tokenizer, loaded once per worker process (by its first chunk, so that a load error reaches the caller)."""
    # Each worker is one of `workers` processes already: the tokenizer's own threads would only compete with them.
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    return load_tokenizer(Path(tokenizer_dir))


# --- writing and reading the directory --------------------------------------------------------


def _check_replaceable(out_dir: Path) -> None:
    """Refuse to replace anything but an empty directory or earlier shards."""
    if not out_dir.exists():
        return
    if not out_dir.is_dir() or (any(out_dir.iterdir()) and not (out_dir / MANIFEST).is_file()):
        raise ErnieMError(f"{out_dir}: exists and is not a shard directory; not overwriting it")


def _write_atomically(tokenized: TokenizedCorpus, settings: dict, out_dir: Path) -> None:
    """Write the arrays and then the manifest to a temporary sibling directory, renamed to `out_dir` when complete."""
    with staged_directory(out_dir) as staging:
        manifest = {"format_version": FORMAT_VERSION, **settings, **_write_arrays(tokenized, staging)}
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def _write_arrays(tokenized: TokenizedCorpus, directory: Path) -> dict:
    """Save every `TokenArrays`; return the manifest's "mono" and "pairs" entries."""
    mono = {lang: _save_arrays(directory, f"mono.{lang}", arrays) for lang, arrays in tokenized.mono.items()}
    pairs = [
        {
            "languages": [a, b],
            "sides": [
                _save_arrays(directory, f"pairs.{a}-{b}.{lang}", arrays)
                for lang, arrays in zip((a, b), sides, strict=True)
            ],
        }
        for (a, b), sides in tokenized.pairs.items()
    ]
    return {"mono": mono, "pairs": pairs}


def _save_arrays(directory: Path, name: str, arrays: TokenArrays) -> dict:
    np.save(directory / f"{name}.ids.npy", arrays.ids)
    np.save(directory / f"{name}.offsets.npy", arrays.offsets)
    return {"name": name, "sequences": len(arrays), "tokens": arrays.num_tokens()}


def _read_manifest(path: Path) -> dict:
    """The manifest, refused unless it is of this FORMAT_VERSION."""
    file = path / MANIFEST
    if not file.is_file():
        raise ErnieMError(f"{path}: no {MANIFEST}, so not a complete shard directory; rebuild it with write_shards")
    try:
        manifest = json.loads(file.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise ErnieMError(f"{path}: {MANIFEST} is not valid JSON; rebuild the shards") from None
    version = manifest.get("format_version") if isinstance(manifest, dict) else None
    if version != FORMAT_VERSION:
        raise ErnieMError(
            f"{path}: shards of format version {version}, but this ernie_m reads version {FORMAT_VERSION}; rebuild them"
        )
    return manifest


def _load_arrays(path: Path, entry: dict) -> TokenArrays:
    """Memory-map one `TokenArrays`, checked against the counts of its manifest entry."""
    name = entry["name"]
    try:
        ids = np.load(path / f"{name}.ids.npy", mmap_mode="r")
        offsets = np.load(path / f"{name}.offsets.npy", mmap_mode="r")
        if (ids.dtype, offsets.dtype, len(ids), len(offsets)) != (
            np.int32,
            np.int64,
            entry["tokens"],
            entry["sequences"] + 1,
        ):
            raise ValueError("sizes or types differ from the manifest")
        # Plain-ndarray views of the maps: the same pages, but slicing a np.memmap costs the loader 5-10% more,
        # and the sequences reach the objectives as the same type that `tokenize_corpus` gives them.
        return TokenArrays(ids.view(np.ndarray), offsets.view(np.ndarray))
    except (OSError, ValueError) as error:
        raise ErnieMError(f"{path}: {name} is damaged ({error}); rebuild the shards") from None


def _hash_json(digest, value) -> None:
    digest.update(json.dumps(value).encode("utf-8") + b"\n")
