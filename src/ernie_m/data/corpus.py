"""Read a user's plain-text corpus directory into a `TextCorpus`.

Layout (UTF-8, one sentence a line; other files such as a README are ignored):

    corpus/
      de.txt            monolingual German
      sw.txt            monolingual Swahili
      de-en.de          German side of German-English parallel text
      de-en.en          English side, line-aligned with de-en.de
      fr-en.fr          ...
      fr-en.en
      es-en.tsv         parallel text as one file: <es sentence> TAB <en sentence>

- Monolingual files are named `<lang>.txt`; blank lines are skipped.
- Parallel text is a Moses/OPUS-style pair of line-aligned files
  `<a>-<b>.<a>` and `<a>-<b>.<b>`. Both files must have the same number of
  lines; a line pair with either side blank is skipped.
- Any file may be compressed: `de.txt.gz`, `de-en.de.xz`, `es-en.tsv.gz`.
- Languages are codes such as `de`, `fr`, `zh`, `pt_BR` (see
  `ernie_m.data.languages`); `de_DE.txt` counts as `de`. Files naming the
  same language (or language pair) are concatenated in file-name order.
- Lines are stripped of surrounding whitespace and line ends (`\\n`, `\\r\\n`).
- A line that is not UTF-8 (or a TSV line without exactly one TAB) is an error naming the file and
  line, or, with `on_error="skip"`, is dropped (with its partner line) and counted.
"""

import gzip
import lzma
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ernie_m.data.languages import normalize_language
from ernie_m.errors import ErnieMError

_EXPECTED_NAMES = (
    "expected <lang>.txt (monolingual), <a>-<b>.<a> + <a>-<b>.<b> or <a>-<b>.tsv (parallel), "
    "optionally .gz or .xz, e.g. de.txt, de-en.de, de-en.en"
)
_OPENERS = {"gz": gzip.open, "xz": lzma.open}


class Languages:
    """What a corpus keyed by language (`mono[lang]`, `pairs[(a, b)]`) says about its languages."""

    mono: dict
    pairs: dict

    def languages(self) -> list[str]:
        """All languages, sorted."""
        return sorted(set(self.mono) | set(self.parallel_languages()))

    def parallel_languages(self) -> list[str]:
        """Languages that occur in at least one parallel pair, sorted."""
        return sorted({lang for pair in self.pairs for lang in pair})


@dataclass
class TextCorpus(Languages):
    """Sentences by language: parallel pairs and monolingual lists."""

    pairs: dict[tuple[str, str], list[tuple[str, str]]]  # (lang_a, lang_b) -> [(sentence_a, sentence_b), ...]
    mono: dict[str, list[str]]  # lang -> [sentence, ...]


def read_corpus_dir(path: Path, on_error: str = "fail", skipped: Counter | None = None) -> TextCorpus:
    """Read every corpus file in `path` (layout in the module docstring).

    `on_error`: "fail" raises on a bad line; "skip" drops it and counts it in `skipped`
    ("not_utf8", "malformed_tsv").
    """
    path = Path(path)
    if not path.is_dir():
        raise ErnieMError(
            f"{path}: "
            + ("is a file; a corpus is a directory of files" if path.exists() else "corpus directory does not exist")
        )
    reader = _LineReader(on_error, skipped if skipped is not None else Counter())
    mono_files, parallel_files, tsv_files = _find_corpus_files(path)
    if not mono_files and not parallel_files and not tsv_files:
        raise ErnieMError(f"{path}: no corpus files; {_EXPECTED_NAMES}")
    corpus = TextCorpus(pairs={}, mono={})
    for file, lang in mono_files:
        corpus.mono.setdefault(lang, []).extend(line for line in reader.lines(file) if line)
    for (file_a, file_b), langs in parallel_files:
        corpus.pairs.setdefault(langs, []).extend(reader.aligned(file_a, file_b))
    for file, langs in tsv_files:
        corpus.pairs.setdefault(langs, []).extend(reader.tsv(file))
    corpus.mono = {lang: lines for lang, lines in corpus.mono.items() if lines}
    corpus.pairs = {langs: pairs for langs, pairs in corpus.pairs.items() if pairs}
    if not corpus.mono and not corpus.pairs:
        raise ErnieMError(f"{path}: the corpus is empty (every file is empty or blank)")
    return corpus


def read_corpus_lines(file: Path) -> list[str]:
    """Every line of one text file (plain, .gz or .xz), stripped; an error names a line that is not UTF-8."""
    if not Path(file).is_file():
        raise ErnieMError(f"{file}: file not found")
    return _LineReader("fail", Counter()).lines(Path(file))


def _find_corpus_files(directory: Path):
    """[(file, lang)] monolingual, [((file_a, file_b), (a, b))] aligned pairs, [(file, (a, b))] TSV."""
    mono, parallel_stems, tsv = [], {}, []
    for file in sorted(p for p in directory.iterdir() if p.is_file() and not p.name.startswith(".")):
        name = file.name.removesuffix(".gz").removesuffix(".xz")
        stem, _, suffix = name.rpartition(".")
        if suffix == "txt":
            mono.append((file, _language_of(file, stem)))
        elif suffix == "tsv" and stem.count("-") == 1:
            tsv.append((file, _pair_languages(file, *stem.split("-"))))
        elif stem.count("-") == 1 and suffix in stem.split("-"):
            parallel_stems.setdefault(stem, {})[suffix] = file
    return mono, [_parallel_files(stem, sides) for stem, sides in sorted(parallel_stems.items())], tsv


def _parallel_files(stem: str, sides: dict[str, Path]) -> tuple[tuple[Path, Path], tuple[str, str]]:
    """The two files and two languages of the parallel pair `<a>-<b>`; an error if a side is missing."""
    code_a, code_b = stem.split("-")
    ((code, first), *_) = sides.items()
    langs = _pair_languages(first, code_a, code_b)
    if len(sides) == 1:
        raise ErnieMError(f"{first}: parallel file without its partner {stem}.{code_b if code == code_a else code_a}")
    return (sides[code_a], sides[code_b]), langs


def _pair_languages(file: Path, code_a: str, code_b: str) -> tuple[str, str]:
    langs = (_language_of(file, code_a), _language_of(file, code_b))
    if langs[0] == langs[1]:
        raise ErnieMError(f"{file}: a parallel pair needs two different languages, got {langs[0]} twice")
    return langs


def _language_of(file: Path, code: str) -> str:
    """Normalise the language code `code` taken from the name of `file`."""
    try:
        return normalize_language(code)
    except ErnieMError as error:
        raise ErnieMError(f"{file}: {error}") from None


@dataclass
class _LineReader:
    """Reads lines by number (so that errors can name them), failing or skipping bad ones."""

    on_error: str
    skipped: Counter

    def lines(self, file: Path) -> list[str | None]:
        """Stripped lines of `file`; None for a skipped bad line. A file that is mostly bad lines is
        refused even when skipping: it is not text (a binary file, another encoding)."""
        lines = []
        with _OPENERS.get(file.suffix.lstrip("."), open)(file, "rb") as stream:
            for number, raw in enumerate(stream, start=1):
                try:
                    line = raw.decode("utf-8").strip()
                except UnicodeDecodeError:
                    lines.append(self._bad(file, number, "not_utf8", "is not valid UTF-8"))
                    continue
                lines.append(
                    self._bad(file, number, "not_utf8", "holds a NUL byte (binary data)") if "\0" in line else line
                )
        bad = lines.count(None)
        if bad and bad * 2 >= len(lines):
            raise ErnieMError(
                f"{file}: {bad} of its {len(lines)} lines are not UTF-8 text; is it a text file? "
                "(--on-error skip drops single bad lines, not whole files)"
            )
        if lines and lines[0]:
            lines[0] = lines[0].removeprefix("\ufeff").strip()  # editors on Windows start files with a BOM
        return lines

    def aligned(self, file_a: Path, file_b: Path) -> list[tuple[str, str]]:
        """The line pairs of two aligned files, skipping pairs with a blank or bad side."""
        lines_a, lines_b = self.lines(file_a), self.lines(file_b)
        if len(lines_a) != len(lines_b):
            raise ErnieMError(
                f"{file_a} has {len(lines_a)} lines but {file_b} has {len(lines_b)}; parallel files must be "
                "line-aligned"
            )
        return [(a, b) for a, b in zip(lines_a, lines_b, strict=True) if a and b]

    def tsv(self, file: Path) -> list[tuple[str, str]]:
        pairs = []
        for number, line in enumerate(self.lines(file), start=1):
            if not line:
                continue
            fields = line.split("\t")
            if len(fields) != 2:
                self._bad(file, number, "malformed_tsv", f"has {len(fields)} TAB-separated fields, expected 2")
            elif fields[0].strip() and fields[1].strip():
                pairs.append((fields[0].strip(), fields[1].strip()))
        return pairs

    def _bad(self, file: Path, number: int, rule: str, problem: str) -> None:
        if self.on_error != "skip":
            raise ErnieMError(
                f"{file}: line {number} {problem} (`ernie-m corpus build --on-error skip` drops such lines)"
            )
        self.skipped[rule] += 1
