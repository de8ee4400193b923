"""Train a SentencePiece unigram tokenizer and save it in XLM-R's layout.

The saved directory loads offline with `transformers.AutoTokenizer`. Ids
follow XLM-R (fairseq): `<s>`=0, `<pad>`=1, `</s>`=2, `<unk>`=3, then the
SentencePiece pieces shifted by one (SentencePiece id + 1, from
SentencePiece id 3 on), and `<mask>` last. SentencePiece's own unk/bos/eos
(ids 0, 1, 2) are replaced by the four specials, so SentencePiece trains
`vocab_size - 2` pieces for a final vocabulary of exactly `vocab_size`.
"""

import random
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from ernie_m.errors import ErnieMError, first_line
from ernie_m.files import staged_directory

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from ernie_m.data.corpus import TextCorpus

SPM_MODEL_NAME = "sentencepiece.bpe.model"  # the file name XLMRobertaTokenizer looks for, though ours is unigram
# HF specials (<s>, <pad>, </s>, <unk>, <mask>) minus those taken over from SentencePiece (unk, bos, eos).
_EXTRA_HF_IDS = 5 - 3
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", SPM_MODEL_NAME)


def train_tokenizer(
    sentences: Iterable[str],
    out_dir: Path,
    vocab_size: int,
    seed: int = 0,
    max_sentences: int = 300_000,
) -> "PreTrainedTokenizerBase":
    """Train on (a seeded sample of at most `max_sentences` of) `sentences`; save to `out_dir`.

    `len(tokenizer) == vocab_size`. The directory appears complete or not at
    all; an existing tokenizer directory there is replaced.
    """
    out_dir = Path(out_dir)
    sample = sample_sentences(sentences, max_sentences, seed)
    if not sample:
        raise ErnieMError(f"{out_dir}: no sentences to train the tokenizer on")
    if out_dir.exists() and any(out_dir.iterdir()) and not (out_dir / SPM_MODEL_NAME).is_file():
        raise ErnieMError(f"{out_dir}: exists and is not a tokenizer directory; not overwriting it")
    with staged_directory(out_dir) as staging:
        _train_sentencepiece(sample, staging / SPM_MODEL_NAME, vocab_size, seed, out_dir)
        _save_hf_tokenizer(staging)
    return load_tokenizer(out_dir)  # loaded from its final place, so that `name_or_path` is right


def sample_sentences(sentences: Iterable[str], max_sentences: int, seed: int) -> list[str]:
    """The non-blank one-line sentences; a seeded random subset of `max_sentences` if more, in input order."""
    kept = [text for text in sentences if text.strip() and "\n" not in text]
    if len(kept) <= max_sentences:
        return kept
    chosen = sorted(random.Random(seed).sample(range(len(kept)), max_sentences))
    return [kept[i] for i in chosen]


def balanced_sample(corpus: "TextCorpus", max_sentences: int, alpha: float, seed: int) -> list[str]:
    """At most `max_sentences` sentences, language l's share proportional to n_l ** alpha (n_l: its
    distinct sentences, monolingual and parallel), so that small languages get pieces of their own."""
    by_language: dict[str, list[str]] = {lang: list(lines) for lang, lines in corpus.mono.items()}
    for (a, b), pairs in corpus.pairs.items():
        by_language.setdefault(a, []).extend(pair[0] for pair in pairs)
        by_language.setdefault(b, []).extend(pair[1] for pair in pairs)
    by_language = {lang: list(dict.fromkeys(lines)) for lang, lines in sorted(by_language.items())}
    weights = {lang: len(lines) ** alpha for lang, lines in by_language.items()}
    total = sum(weights.values())
    sample = []
    for lang, lines in by_language.items():
        quota = min(len(lines), round(max_sentences * weights[lang] / total))
        sample.extend(random.Random(f"{seed}-{lang}").sample(lines, quota))
    return sample


def load_tokenizer(path: Path) -> "PreTrainedTokenizerBase":
    """Load a tokenizer directory written by `train_tokenizer` (or any HF tokenizer directory), offline."""
    from transformers import AutoTokenizer

    path = Path(path)
    if not path.is_dir():
        raise ErnieMError(f"{path}: tokenizer directory does not exist")
    if not any((path / name).is_file() for name in _TOKENIZER_FILES):
        raise ErnieMError(f"{path}: no tokenizer files (expected {', '.join(_TOKENIZER_FILES)})")
    try:
        return AutoTokenizer.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError) as error:
        raise ErnieMError(f"{path}: cannot load the tokenizer: {first_line(error)}") from None


def _train_sentencepiece(sample: list[str], model_file: Path, vocab_size: int, seed: int, out_dir: Path) -> None:
    """Train a unigram model with SentencePiece's default ids (unk=0, bos=1, eos=2) into `model_file`."""
    import sentencepiece as spm

    spm.set_random_generator_seed(seed)
    try:
        with open(model_file, "wb") as model_writer:
            spm.SentencePieceTrainer.train(
                sentence_iterator=iter(sample),
                model_writer=model_writer,
                model_type="unigram",
                vocab_size=vocab_size - _EXTRA_HF_IDS,
                character_coverage=0.9995,
                num_threads=2,
                train_extremely_large_corpus=False,
                minloglevel=2,  # SentencePiece logs every EM step otherwise
            )
    except RuntimeError as error:
        raise ErnieMError(f"{out_dir}: {_training_error(error, vocab_size, len(sample))}") from None


def _training_error(error: RuntimeError, vocab_size: int, num_sentences: int) -> str:
    """A SentencePiece training failure in terms of our `vocab_size`."""
    # SentencePiece reports "Vocabulary size too high (N). Please set it to a value <= M." in its own ids.
    limit = re.search(r"value <= (\d+)", str(error))
    if limit is None:
        return f"tokenizer training failed on {num_sentences} sentences: {first_line(error)}"
    most = int(limit[1]) + _EXTRA_HF_IDS
    return (
        f"vocab_size {vocab_size} is too large for the tokenizer's {num_sentences} training sentences: "
        f"lower vocab_size to at most {most}, or give more text"
    )


def _save_hf_tokenizer(directory: Path) -> None:
    """Turn `directory/sentencepiece.bpe.model` into a saved HF XLM-R tokenizer in the same directory."""
    from transformers import XLMRobertaTokenizer

    # XLMRobertaTokenizer(vocab_file=...) ignores the file; from_pretrained on the directory converts it.
    tokenizer = XLMRobertaTokenizer.from_pretrained(directory)
    tokenizer.save_pretrained(directory)
