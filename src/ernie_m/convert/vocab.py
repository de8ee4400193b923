"""ERNIE-M's tokenizer files (sentencepiece.bpe.model + vocab.txt) as a transformers XLM-R tokenizer.

ERNIE-M numbers tokens by the lines of vocab.txt ([CLS]=0, [PAD]=1, [SEP]=2, [UNK]=3, ..., [MASK])
and uses the SentencePiece model only to cut text into pieces. The tokenizer built here is a
Unigram model over the vocab.txt lines in their order, each scored as in the SentencePiece model,
with that model's normaliser: ids are ERNIE-M's whatever order the SentencePiece model keeps, and
inputs are framed as ERNIE-M's (`[CLS] A [SEP]`, `[CLS] A [SEP] [SEP] B [SEP]`).

Not carried over: ERNIE-M's tokenizer cuts SentencePiece's pieces further, around every CJK
character, the punctuation ,;:.?!~ (and its full-width forms) and digit/non-digit boundaries, and
drops standalone "▁" pieces (the first one, or all in PaddleNLP's version); this one keeps
SentencePiece's pieces.
"""

from __future__ import annotations

from pathlib import Path

from ernie_m.errors import ErnieMError, first_line

SPECIALS = {"cls_token": "[CLS]", "pad_token": "[PAD]", "sep_token": "[SEP]", "unk_token": "[UNK]"}
MASK = "[MASK]"
# Ids the XLM-R architecture and transformers' XLM-R tokenizer fix: bos/cls 0, pad 1, eos/sep 2, unk 3.
FIXED_IDS = ("[CLS]", "[PAD]", "[SEP]", "[UNK]")


def read_vocab(path: Path) -> list[str]:
    """The tokens of vocab.txt, id = line number (a line may carry more tab-separated fields after the token)."""
    try:
        lines = Path(path).read_bytes().decode("utf-8").split("\n")
    except UnicodeDecodeError as error:
        line = Path(path).read_bytes()[: error.start].count(b"\n") + 1
        raise ErnieMError(f"{path}:{line}: not UTF-8") from None
    if lines and lines[-1] == "":
        lines.pop()
    tokens = [line.rstrip("\r").split("\t")[0] for line in lines]
    seen: dict[str, int] = {}
    for number, token in enumerate(tokens, start=1):
        if token in seen:
            raise ErnieMError(f"{path}:{number}: token {token!r} repeats line {seen[token]}")
        seen[token] = number
    if tuple(tokens[: len(FIXED_IDS)]) != FIXED_IDS or MASK not in seen:
        raise ErnieMError(
            f"{path}: expected {', '.join(FIXED_IDS)} on lines 1-4 and a {MASK} line, "
            f"found {', '.join(tokens[: len(FIXED_IDS)])}{'' if MASK in seen else f' and no {MASK}'}"
        )
    return tokens


def erniem_tokenizer(sentencepiece_file: Path, vocab_file: Path):
    """An `XLMRobertaTokenizer` with ERNIE-M's ids, pieces and special tokens."""
    from transformers import XLMRobertaTokenizer

    tokens = read_vocab(vocab_file)
    model = _read_sentencepiece(sentencepiece_file)
    scores = {piece.piece: piece.score for piece in model.pieces}
    unknown = [token for token in tokens if token not in scores and token not in (*FIXED_IDS, MASK)]
    if unknown:
        raise ErnieMError(
            f"{vocab_file}: {len(unknown)} of {len(tokens)} tokens are not pieces of {sentencepiece_file.name} "
            f"(e.g. {', '.join(map(repr, unknown[:3]))}): the two files do not belong together"
        )
    return XLMRobertaTokenizer(
        vocab=[(token, scores.get(token, 0.0)) for token in tokens],
        _spm_precompiled_charsmap=model.normalizer_spec.precompiled_charsmap or None,
        bos_token="[CLS]",
        eos_token="[SEP]",
        mask_token=MASK,
        **SPECIALS,
    )


def _read_sentencepiece(path: Path):
    from sentencepiece import sentencepiece_model_pb2

    model = sentencepiece_model_pb2.ModelProto()
    try:
        model.ParseFromString(Path(path).read_bytes())
    except Exception as error:  # protobuf's DecodeError and friends
        raise ErnieMError(f"{path}: not a SentencePiece model ({first_line(error)})") from None
    if not model.pieces:
        raise ErnieMError(f"{path}: a SentencePiece model with no pieces")
    if model.trainer_spec.model_type != model.trainer_spec.UNIGRAM:
        kind = model.trainer_spec.ModelType.Name(model.trainer_spec.model_type)
        raise ErnieMError(f"{path}: a {kind} SentencePiece model; ERNIE-M's (like XLM-R's) is UNIGRAM")
    return model
