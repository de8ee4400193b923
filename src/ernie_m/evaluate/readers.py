"""Read the evaluation data in the formats it is published in.

    data set      reader                file names (`task_files`, from DATASETS)
    XNLI, PAWS-X  read_sentence_pairs   {split}-{lang}.tsv (XTREME); the original TSVs with a header also read
    CoNLL NER     read_conll            eng / deu / esp / ned .train .testa .testb (also deu.testa.xglue ...)
    MLQA, SQuAD   read_squad            {split}-context-{c}-question-{q}.json, train-v1.1.json
    Tatoeba       read_tatoeba          tatoeba.{iso3}-eng.{iso3} + tatoeba.{iso3}-eng.eng
    BUCC 2018     read_bucc             {lang}-en.{sample,training}.{lang,en,gold}

Files are UTF-8 (a BOM is dropped) with LF or CRLF line ends. Input a reader cannot use raises
`ErnieMError` naming the file and the 1-based line (for JSON, the place in the document).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ernie_m.errors import ErnieMError

XNLI_LABELS = ("entailment", "neutral", "contradiction")
PAWSX_LABELS = ("0", "1")
# MultiNLI and XNLI-MT spell this label "contradictory"; XTREME maps it the same way.
_LABEL_ALIASES = {"contradictory": "contradiction"}


@dataclass(frozen=True)
class SentencePair:
    text_a: str
    text_b: str
    label: int  # index into the label tuple the pairs were read with


@dataclass(frozen=True)
class TaggedSentence:
    tokens: tuple[str, ...]
    tags: tuple[str, ...]  # IOB2: O, B-<type>, I-<type>


@dataclass(frozen=True)
class QAExample:
    id: str
    question: str
    context: str
    answers: tuple[tuple[str, int], ...]  # (text, character start in context)


# ---------------------------------------------------------------- lines


def _read_text(path: Path) -> str:
    """The file's text, a leading BOM dropped."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise ErnieMError(f"{path}: cannot read ({error.strerror})") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise ErnieMError(f"{path}: line {line} is not valid UTF-8") from None


def _read_lines(path: Path) -> list[str]:
    """The file's lines without their LF or CRLF ends."""
    # Split at LF only: str.splitlines() would also split at U+2028, U+0085 and the like inside sentences.
    lines = _read_text(path).split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


def _tab_rows(path: Path) -> list[tuple[int, list[str]]]:
    """The non-blank lines as (line number, TAB-separated fields)."""
    return [(number, line.split("\t")) for number, line in enumerate(_read_lines(path), 1) if line.strip()]


# ---------------------------------------------------------------- XNLI, PAWS-X


@dataclass(frozen=True)
class _Columns:
    """Where the fields of a sentence-pair row are."""

    text_a: int
    text_b: int
    label: int
    count: int
    language: int | None = None
    csv_quoted: bool = False


# XTREME writes `text_a TAB text_b TAB label` with Python's csv writer, which quotes fields holding a quote.
_XTREME_COLUMNS = _Columns(text_a=0, text_b=1, label=2, count=3, csv_quoted=True)
_HEADER_NAMES = (("sentence1", "premise"), ("sentence2", "hypothesis", "hypo"), ("gold_label", "label"))


def read_sentence_pairs(path: Path, labels: tuple[str, ...], language: str | None = None) -> list[SentencePair]:
    """Sentence pairs of an XNLI or PAWS-X TSV, each label an index into `labels`.

    Layouts: XTREME's `text_a TAB text_b TAB label` without a header, or an original release whose
    header names the columns: PAWS-X `id sentence1 sentence2 label`, MultiNLI `premise hypo label`,
    XNLI `language gold_label ... sentence1 sentence2 ...`. A file with a `language` column holds
    several languages; `language` picks its rows (and is not needed for the other layouts).
    Blank lines are skipped.
    """
    path = Path(path)
    rows = _tab_rows(path)
    if not rows:
        raise ErnieMError(f"{path}: empty; expected rows of text_a TAB text_b TAB label")
    columns = _header_columns(rows[0][1])
    if columns is None:
        columns = _XTREME_COLUMNS
    else:
        rows = rows[1:]
    _check_field_counts(path, rows, columns)
    if columns.language is not None:
        rows = _rows_of_language(path, rows, columns.language, language)
    return [_sentence_pair(path, number, fields, columns, labels) for number, fields in rows]


def _header_columns(fields: list[str]) -> _Columns | None:
    """The columns a header row names, or None when the row is data."""
    names = [field.strip().lower() for field in fields]
    found = [next((names.index(name) for name in choices if name in names), None) for choices in _HEADER_NAMES]
    if None in found:
        return None
    language = names.index("language") if "language" in names else None
    return _Columns(*found, count=len(names), language=language)


def _check_field_counts(path: Path, rows: list[tuple[int, list[str]]], columns: _Columns) -> None:
    expected = "as the header names" if columns is not _XTREME_COLUMNS else "text_a, text_b, label"
    for number, fields in rows:
        if len(fields) != columns.count:
            unlabelled = columns is _XTREME_COLUMNS and len(fields) == 2
            hint = "; XTREME's test files have no labels, the original release's do" if unlabelled else ""
            raise ErnieMError(
                f"{path}: line {number} has {len(fields)} TAB-separated fields, expected {columns.count} "
                f"({expected}){hint}"
            )


def _rows_of_language(
    path: Path, rows: list[tuple[int, list[str]]], column: int, language: str | None
) -> list[tuple[int, list[str]]]:
    present = sorted({fields[column] for _, fields in rows})
    chosen = [(number, fields) for number, fields in rows if fields[column] == language]
    if not chosen:
        wanted = "holds several languages; choose one" if language is None else f"has no rows of language {language!r}"
        raise ErnieMError(f"{path}: {wanted} (present: {', '.join(present)})")
    return chosen


def _sentence_pair(
    path: Path, number: int, fields: list[str], columns: _Columns, labels: tuple[str, ...]
) -> SentencePair:
    texts = [fields[columns.text_a], fields[columns.text_b]]
    if columns.csv_quoted:
        texts = [_unquote(text) for text in texts]
    written = fields[columns.label].strip()
    label = written if written in labels else _LABEL_ALIASES.get(written, written)
    if label not in labels:
        raise ErnieMError(f"{path}: line {number}: label {written!r} is not one of {', '.join(labels)}")
    return SentencePair(texts[0], texts[1], labels.index(label))


def _unquote(field: str) -> str:
    """Undo the csv writer's quoting (outer quotes, inner ones doubled); other fields stay as they are."""
    inner = field[1:-1]
    if len(field) >= 2 and field[0] == field[-1] == '"' and '"' not in inner.replace('""', ""):
        return inner.replace('""', '"')
    return field


# ---------------------------------------------------------------- CoNLL NER

CONLL_SCHEMES = ("auto", "iob1", "iob2")


def read_conll(path: Path, scheme: str = "auto") -> list[TaggedSentence]:
    """Sentences of a CoNLL-2002/2003 NER file, tags in IOB2.

    One token a line: the token first, the tag last, any columns between (POS, chunk), separated by
    spaces or TABs. A blank line or a `-DOCSTART-` line ends a sentence. Tags are O, B-<type> or I-<type>.

    `scheme`: "iob1" (CoNLL-2003 en, de: an entity may start with I-) or "auto" convert with
    `iob1_to_iob2`, which leaves IOB2 unchanged, so no detection pass is needed; "iob2" (CoNLL-2002 es,
    nl) refuses an I-<type> that continues no entity. (The Spanish files have one each, where a
    sentence break splits an entity; "auto" reads them, starting an entity there.)
    """
    if scheme not in CONLL_SCHEMES:
        raise ErnieMError(f"unknown tagging scheme {scheme!r}; choose from {', '.join(CONLL_SCHEMES)}")
    path = Path(path)
    sentences = []
    for numbers, tokens, tags in _conll_blocks(path):
        if scheme == "iob2":
            _check_iob2(path, numbers, tags)
        sentences.append(TaggedSentence(tuple(tokens), tuple(iob1_to_iob2(tags))))
    if not sentences:
        raise ErnieMError(f"{path}: no sentences; expected one `token ... tag` line per token")
    return sentences


def _conll_blocks(path: Path) -> Iterator[tuple[list[int], list[str], list[str]]]:
    """Each sentence as (line numbers, tokens, tags)."""
    numbers, tokens, tags = [], [], []
    for number, line in enumerate(_read_lines(path), 1):
        # Split at spaces and TABs only: str.split() would also split at a no-break space inside a token.
        fields = [field for field in line.replace("\t", " ").split(" ") if field]
        if not fields or fields[0] == "-DOCSTART-":
            if tokens:
                yield numbers, tokens, tags
            numbers, tokens, tags = [], [], []
            continue
        if len(fields) < 2:
            raise ErnieMError(f"{path}: line {number} has one column; expected a token, then an NER tag in the last")
        tag = fields[-1]
        if not _is_tag(tag):
            raise ErnieMError(f"{path}: line {number}: tag {tag!r} is not O, B-<type> or I-<type>")
        numbers.append(number)
        tokens.append(fields[0])
        tags.append(tag)
    if tokens:
        yield numbers, tokens, tags


def _is_tag(tag: str) -> bool:
    return tag == "O" or (tag[:2] in ("B-", "I-") and len(tag) > 2)


def _check_iob2(path: Path, numbers: list[int], tags: list[str]) -> None:
    previous = "O"
    for number, tag in zip(numbers, tags, strict=True):
        if tag.startswith("I-") and previous[2:] != tag[2:]:
            after = "the sentence start" if number == numbers[0] else previous
            raise ErnieMError(
                f"{path}: line {number}: {tag} after {after} is not IOB2; read with scheme 'auto' to start an entity "
                "there"
            )
        previous = tag


def iob1_to_iob2(tags: list[str]) -> list[str]:
    """IOB2 tags for one sentence: an I-X that continues no X entity starts one (B-X).

    `I-PER I-PER B-PER O I-LOC` -> `B-PER I-PER B-PER O B-LOC`. IOB2 input comes back unchanged.
    """
    converted = []
    previous = "O"
    for tag in tags:
        if tag.startswith("I-") and previous[2:] != tag[2:]:
            tag = "B-" + tag[2:]
        converted.append(tag)
        previous = tag
    return converted


# ---------------------------------------------------------------- SQuAD, MLQA


def read_squad(path: Path) -> list[QAExample]:
    """Questions of a SQuAD v1.1 / MLQA JSON file: `data` -> `paragraphs` -> `context`, `qas`.

    Each answer's `answer_start` must point at its text in the context: training uses the position.
    """
    path = Path(path)
    try:
        document = json.loads(_read_text(path))
    except json.JSONDecodeError as error:
        raise ErnieMError(f"{path}: line {error.lineno}: not valid JSON ({error.msg})") from None
    examples = []
    for a, article in enumerate(_json_field(path, document, "data", list, "the top level")):
        for p, paragraph in enumerate(_json_field(path, article, "paragraphs", list, f"data[{a}]")):
            where = f"data[{a}].paragraphs[{p}]"
            context = _json_field(path, paragraph, "context", str, where)
            for q, qa in enumerate(_json_field(path, paragraph, "qas", list, where)):
                examples.append(_qa_example(path, qa, context, f"{where}.qas[{q}]"))
    if not examples:
        raise ErnieMError(f"{path}: no questions")
    return examples


_JSON_TYPES = {list: "list", str: "string", int: "integer"}


def _json_field(path: Path, node: object, key: str, kind: type, where: str):
    """`node[key]`, which must be of type `kind`; the error names the place in the document."""
    value = node.get(key) if isinstance(node, dict) else None
    if not isinstance(value, kind):
        raise ErnieMError(f"{path}: {where}: expected a {_JSON_TYPES[kind]} under {key!r}")
    return value


def _qa_example(path: Path, qa: object, context: str, where: str) -> QAExample:
    question_id = _json_field(path, qa, "id", str, where)
    answers = _json_field(path, qa, "answers", list, where)
    located = tuple(_answer(path, answer, context, f"{where}.answers[{i}]") for i, answer in enumerate(answers))
    return QAExample(question_id, _json_field(path, qa, "question", str, where), context, located)


def _answer(path: Path, answer: object, context: str, where: str) -> tuple[str, int]:
    text = _json_field(path, answer, "text", str, where)
    start = _json_field(path, answer, "answer_start", int, where)
    if start < 0 or context[start : start + len(text)] != text:
        raise ErnieMError(f"{path}: {where}: answer {text!r} is not at answer_start {start} of its context")
    return text, start


# ---------------------------------------------------------------- Tatoeba, BUCC, XNLI's translations


def translated_sentences(
    foreign: list[SentencePair], english: list[SentencePair], foreign_path: Path, english_path: Path
) -> tuple[list[str], list[str]]:
    """The distinct sentences of two XNLI files that are translations row by row (XNLI's dev and test
    sets are one set of pairs in 15 languages): (foreign sentences, English sentences), aligned.

    Each row gives its premise, then its hypothesis. A sentence already taken on either side is
    skipped (XNLI repeats each premise for its three hypotheses), so every sentence has one right
    answer when it is retrieved.
    """
    if len(foreign) != len(english):
        raise ErnieMError(
            f"{foreign_path} has {len(foreign)} rows but {english_path} has {len(english)}; "
            "they must be translations of each other row by row"
        )
    chosen: list[tuple[str, str]] = []
    seen_foreign, seen_english = set(), set()
    for translated, original in zip(foreign, english, strict=True):
        for pair in ((translated.text_a, original.text_a), (translated.text_b, original.text_b)):
            if pair[0] not in seen_foreign and pair[1] not in seen_english:
                chosen.append(pair)
            seen_foreign.add(pair[0])
            seen_english.add(pair[1])
    return [pair[0] for pair in chosen], [pair[1] for pair in chosen]


def read_tatoeba(source_path: Path, english_path: Path) -> tuple[list[str], list[str]]:
    """The line-aligned sentences of a Tatoeba pair: (source sentences, English sentences)."""
    source = [line.strip() for line in _read_lines(source_path)]
    english = [line.strip() for line in _read_lines(english_path)]
    if len(source) != len(english):
        raise ErnieMError(
            f"{source_path} has {len(source)} lines but {english_path} has {len(english)}; they must be line-aligned"
        )
    if not source:
        raise ErnieMError(f"{source_path}: empty")
    return source, english


# BUCC 2018 published gold pairs for its sample and training sets but not for its test set, so XTREME
# tunes the mining threshold on the sample set and reports on the training set.
BUCC_SPLITS = {"dev": "sample", "test": "training"}


def read_bucc(
    directory: Path, language: str, split: str
) -> tuple[dict[str, str], dict[str, str], set[tuple[str, str]]]:
    """A BUCC 2018 split: (id -> foreign sentence, id -> English sentence, gold (foreign id, English id) pairs).

    `split` is "dev" (the official sample set) or "test" (the official training set), see `BUCC_SPLITS`;
    the files lie in `directory` or in `directory/bucc2018/<lang>-en/` (`task_files`).
    """
    foreign_path, english_path, gold_path = task_files("bucc", directory, split, language)
    foreign = _bucc_sentences(foreign_path)
    english = _bucc_sentences(english_path)
    return foreign, english, _bucc_gold(gold_path, ((foreign_path, foreign), (english_path, english)))


def _bucc_gold(path: Path, sides: tuple[tuple[Path, dict[str, str]], ...]) -> set[tuple[str, str]]:
    """`foreign id TAB English id` lines as pairs; each id must name a sentence of its side's file."""
    gold = set()
    for number, fields in _tab_rows(path):
        if len(fields) != 2:
            raise ErnieMError(
                f"{path}: line {number} has {len(fields)} TAB-separated fields, expected 2 (foreign id, English id)"
            )
        for sentence_id, (side_path, sentences) in zip(fields, sides, strict=True):
            if sentence_id not in sentences:
                raise ErnieMError(f"{path}: line {number}: id {sentence_id!r} is not in {side_path}")
        gold.add((fields[0], fields[1]))
    return gold


def _bucc_sentences(path: Path) -> dict[str, str]:
    """`id TAB sentence` lines as id -> sentence."""
    sentences: dict[str, str] = {}
    for number, line in enumerate(_read_lines(path), 1):
        sentence_id, tab, sentence = line.partition("\t")
        if not tab:
            raise ErnieMError(f"{path}: line {number} has no TAB; expected id TAB sentence")
        if sentence_id in sentences:
            raise ErnieMError(f"{path}: line {number}: id {sentence_id!r} occurs twice")
        sentences[sentence_id] = sentence.strip()
    return sentences


# ---------------------------------------------------------------- file names

CONLL_FILE_PREFIXES = {"en": "eng", "de": "deu", "es": "esp", "nl": "ned"}
_CONLL_SUFFIXES = {"train": "train", "dev": "testa", "test": "testb"}
# The 36 Tatoeba languages of XTREME, named in the file names by ISO 639-3 (Persian: Iranian Persian,
# Swahili: its individual language, Chinese: Mandarin).
TATOEBA_ISO3 = {
    "af": "afr", "ar": "ara", "bg": "bul", "bn": "ben", "de": "deu", "el": "ell", "es": "spa", "et": "est",
    "eu": "eus", "fa": "pes", "fi": "fin", "fr": "fra", "he": "heb", "hi": "hin", "hu": "hun", "id": "ind",
    "it": "ita", "ja": "jpn", "jv": "jav", "ka": "kat", "kk": "kaz", "ko": "kor", "ml": "mal", "mr": "mar",
    "nl": "nld", "pt": "por", "ru": "rus", "sw": "swh", "ta": "tam", "te": "tel", "th": "tha", "tl": "tgl",
    "tr": "tur", "ur": "urd", "vi": "vie", "zh": "cmn",
}  # fmt: skip


def task_files(dataset: str, data_dir: Path, split: str, language: str) -> Path | tuple[Path, ...]:
    """The file of a data set's split and language by its official name (tatoeba, bucc: the tuple of files).

    Looks in `data_dir` and in the folder XTREME's download (or the official archive) puts the task in
    below it: `xnli/`, `mlqa/MLQA_V1/<split>/`, `bucc2018/<lang>-en/`, ... XTREME's names come first;
    where they are absent, the original release's (`xnli.test.tsv`, `de/test_2k.tsv`, `deu.testa.xglue`,
    `de-en.dev.de`). An MLQA `language` "de-en" names the German-context, English-question file.
    """
    if dataset not in DATASETS:
        raise ErnieMError(f"unknown data set {dataset!r}; known: {', '.join(DATASETS)}")
    spec = DATASETS[dataset]
    if split not in spec.splits:
        raise ErnieMError(f"{dataset} has no split {split!r}; its splits: {', '.join(spec.splits)}")
    data_dir = Path(data_dir)
    directories = [data_dir, *(data_dir / folder.format(split=split, language=language) for folder in spec.folders)]
    paths = tuple(_locate(directories, names) for names in spec.names(split, language))
    return paths[0] if len(paths) == 1 else paths


def _locate(directories: list[Path], names: tuple[str, ...]) -> Path:
    """The first of `names` (alternative names of one file, preferred first) found in `directories`."""
    for name in names:
        for directory in directories:
            if (directory / name).is_file():
                return directory / name
    others = "".join(f" or {name}" for name in names[1:])
    also = ", ".join(str(directory.relative_to(directories[0])) + "/" for directory in directories[1:])
    listings = [_listing(directory) for directory in directories if directory.is_dir()]
    present = "; ".join(listings) or f"{directories[0]} does not exist"
    raise ErnieMError(f"{directories[0] / names[0]}{others} not found (also looked in {also}); {present}")


def _listing(directory: Path, shown: int = 12) -> str:
    names = sorted(entry.name + ("/" if entry.is_dir() else "") for entry in directory.iterdir())
    if not names:
        return f"{directory} is empty"
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return f"{directory} holds {', '.join(names[:shown])}{more}"


# XTREME's test files carry no labels, so the original releases are the fallback: XNLI-1.0 (all
# languages in one file: read it with `language`), XNLI-MT-1.0's MultiNLI translations, PAWS-X's x-final.
def _xnli_names(split: str, language: str) -> tuple[tuple[str, ...], ...]:
    original = f"multinli.train.{language}.tsv" if split == "train" else f"xnli.{split}.tsv"
    return ((f"{split}-{language}.tsv", original),)


def _pawsx_names(split: str, language: str) -> tuple[tuple[str, ...], ...]:
    original = {
        "train": "train.tsv" if language == "en" else "translated_train.tsv",
        "dev": "dev_2k.tsv",
        "test": "test_2k.tsv",
    }
    return ((f"{split}-{language}.tsv", f"{language}/{original[split]}"),)


def _mlqa_names(split: str, language: str) -> tuple[tuple[str, ...], ...]:
    context, _, question = language.partition("-")
    return ((f"{split}-context-{context}-question-{question or context}.json",),)


def _squad_names(split: str, language: str) -> tuple[tuple[str, ...], ...]:
    if language != "en":
        raise ErnieMError(f"SQuAD v1.1 is English only; got language {language!r}")
    return ((f"{split}-v1.1.json",),)


def _conll_names(split: str, language: str) -> tuple[tuple[str, ...], ...]:
    if language not in CONLL_FILE_PREFIXES:
        raise ErnieMError(f"CoNLL NER has no language {language!r}; its languages: {', '.join(CONLL_FILE_PREFIXES)}")
    name = f"{CONLL_FILE_PREFIXES[language]}.{_CONLL_SUFFIXES[split]}"
    return ((name, f"{name}.xglue"),)  # XGLUE distributes German CoNLL-2003 as deu.testa.xglue etc.


def _tatoeba_names(split: str, language: str) -> tuple[tuple[str, ...], ...]:
    if language not in TATOEBA_ISO3:
        raise ErnieMError(f"Tatoeba (XTREME) has no language {language!r}; its languages: {', '.join(TATOEBA_ISO3)}")
    iso3 = TATOEBA_ISO3[language]
    return ((f"tatoeba.{iso3}-eng.{iso3}",), (f"tatoeba.{iso3}-eng.eng",))


def _bucc_names(split: str, language: str) -> tuple[tuple[str, ...], ...]:
    official = f"{language}-en.{BUCC_SPLITS[split]}"
    # XTREME's download renames sample to dev; its "test" files are the training set without gold, so not offered.
    renamed = f"{language}-en.dev" if split == "dev" else official
    return tuple(tuple(dict.fromkeys((f"{official}.{end}", f"{renamed}.{end}"))) for end in (language, "en", "gold"))


@dataclass(frozen=True)
class Dataset:
    """A data set as its official releases lay it out: its splits, the folders below the data folder a
    download puts it in (formatted with `split` and `language`), and `names(split, language)`: each file
    of a split and language as alternative names, preferred first."""

    name: str
    splits: tuple[str, ...]
    folders: tuple[str, ...]
    names: Callable[[str, str], tuple[tuple[str, ...], ...]]


DATASETS = {
    dataset.name: dataset
    for dataset in (
        Dataset("xnli", ("train", "dev", "test"), ("xnli", "XNLI-1.0", "XNLI-MT-1.0/multinli"), _xnli_names),
        Dataset("pawsx", ("train", "dev", "test"), ("pawsx", "x-final"), _pawsx_names),
        Dataset("mlqa", ("dev", "test"), ("mlqa", "MLQA_V1/{split}", "mlqa/MLQA_V1/{split}"), _mlqa_names),
        Dataset("squad", ("train", "dev"), ("squad",), _squad_names),
        Dataset("conll", ("train", "dev", "test"), ("conll",), _conll_names),
        Dataset("tatoeba", ("test",), ("tatoeba",), _tatoeba_names),
        Dataset("bucc", ("dev", "test"), ("bucc2018", "bucc2018/{language}-en", "{language}-en"), _bucc_names),
    )
}


def has_files(dataset: str, data_dir: Path, split: str, language: str) -> bool:
    """Whether `task_files` finds the data set's `split` files of `language` in `data_dir`."""
    try:
        task_files(dataset, data_dir, split, language)
    except ErnieMError:
        return False
    return True


def present_languages(dataset: str, data_dir: Path, split: str, candidates) -> tuple[str, ...]:
    """The `candidates` that have `split` files of `dataset` in `data_dir`; an error naming them when none has."""
    present = tuple(lang for lang in candidates if has_files(dataset, data_dir, split, lang))
    if not present:
        raise ErnieMError(
            f"{data_dir}: no {dataset} {split} files for any of {', '.join(candidates) or 'the languages asked'}"
        )
    return present
