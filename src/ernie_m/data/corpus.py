"""Read a user's plain-text corpus directory into a `TextCorpus`.

Layout (UTF-8, one sentence a line; other files such as a README are ignored):

    corpus/
      de.txt            monolingual German
      sw.txt            monolingual Swahili
      de-en.de          German side of German-English parallel text
      de-en.en          English side, line-aligned with de-en.de
      fr-en.fr          ...
      fr-en.en

- Monolingual files are named `<lang>.txt`; blank lines are skipped.
- Parallel text is a Moses/OPUS-style pair of line-aligned files
  `<a>-<b>.<a>` and `<a>-<b>.<b>`. Both files must have the same number of
  lines; a line pair with either side blank is skipped.
- Languages are codes such as `de`, `fr`, `zh`, `pt_BR` (see
  `ernie_m.data.languages`); `de_DE.txt` counts as `de`. Files naming the
  same language (or language pair) are concatenated in file-name order.
- Lines are stripped of surrounding whitespace and line ends (`\\n`, `\\r\\n`).
"""

from dataclasses import dataclass
from pathlib import Path

from ernie_m.data.languages import normalize_language
from ernie_m.errors import ErnieMError

_EXPECTED_NAMES = (
    "expected <lang>.txt (monolingual) or <a>-<b>.<a> + <a>-<b>.<b> (parallel), e.g. de.txt, de-en.de, de-en.en"
)


@dataclass
class TextCorpus:
    """Sentences by language: parallel pairs and monolingual lists."""

    pairs: dict[tuple[str, str], list[tuple[str, str]]]  # (lang_a, lang_b) -> [(sentence_a, sentence_b), ...]
    mono: dict[str, list[str]]  # lang -> [sentence, ...]

    def languages(self) -> list[str]:
        """All languages, sorted."""
        return sorted(set(self.mono) | set(self.parallel_languages()))

    def parallel_languages(self) -> list[str]:
        """Languages that occur in at least one parallel pair, sorted."""
        return sorted({lang for pair in self.pairs for lang in pair})


def read_corpus_dir(path: Path) -> TextCorpus:
    """Read every corpus file in `path` (layout in the module docstring)."""
    path = Path(path)
    if not path.is_dir():
        raise ErnieMError(f"{path}: corpus directory does not exist")
    mono_files, parallel_files = _find_corpus_files(path)
    if not mono_files and not parallel_files:
        raise ErnieMError(f"{path}: no corpus files; {_EXPECTED_NAMES}")
    corpus = TextCorpus(pairs={}, mono={})
    for file, lang in mono_files:
        corpus.mono.setdefault(lang, []).extend(_read_mono(file))
    for (file_a, file_b), langs in parallel_files:
        corpus.pairs.setdefault(langs, []).extend(_read_parallel(file_a, file_b))
    corpus.mono = {lang: lines for lang, lines in corpus.mono.items() if lines}
    corpus.pairs = {langs: pairs for langs, pairs in corpus.pairs.items() if pairs}
    if not corpus.mono and not corpus.pairs:
        raise ErnieMError(f"{path}: the corpus is empty (every file is empty or blank)")
    return corpus


def _find_corpus_files(
    directory: Path,
) -> tuple[list[tuple[Path, str]], list[tuple[tuple[Path, Path], tuple[str, str]]]]:
    """Return [(file, lang)] for monolingual files and [((file_a, file_b), (a, b))] for parallel ones."""
    mono, parallel_stems = [], set()
    for file in sorted(p for p in directory.iterdir() if p.is_file() and not p.name.startswith(".")):
        stem, _, suffix = file.name.rpartition(".")
        if suffix == "txt":
            mono.append((file, _language_of(file, stem)))
        elif stem.count("-") == 1 and suffix in stem.split("-"):
            parallel_stems.add(stem)
    return mono, [_parallel_files(directory, stem) for stem in sorted(parallel_stems)]


def _parallel_files(directory: Path, stem: str) -> tuple[tuple[Path, Path], tuple[str, str]]:
    """The two files and two languages of the parallel pair `<a>-<b>`; an error if a side is missing."""
    code_a, code_b = stem.split("-")
    file_a, file_b = directory / f"{stem}.{code_a}", directory / f"{stem}.{code_b}"
    for present, missing in ((file_a, file_b), (file_b, file_a)):
        if not missing.is_file():
            raise ErnieMError(f"{present}: parallel file without its partner {missing.name}")
    langs = (_language_of(file_a, code_a), _language_of(file_a, code_b))
    if langs[0] == langs[1]:
        raise ErnieMError(f"{file_a}: a parallel pair needs two different languages, got {langs[0]} twice")
    return (file_a, file_b), langs


def _language_of(file: Path, code: str) -> str:
    """Normalise the language code `code` taken from the name of `file`."""
    try:
        return normalize_language(code)
    except ErnieMError as error:
        raise ErnieMError(f"{file}: {error}") from None


def _read_lines(file: Path) -> list[str]:
    """All lines of `file`, decoded one by one so that an error can name the line, stripped."""
    lines = []
    with open(file, "rb") as stream:
        for number, raw in enumerate(stream, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise ErnieMError(f"{file}: line {number} is not valid UTF-8") from None
            lines.append(text.strip())
    if lines:
        lines[0] = lines[0].removeprefix("\ufeff").strip()  # editors on Windows start files with a BOM
    return lines


def _read_mono(file: Path) -> list[str]:
    """The non-blank lines of a monolingual file."""
    return [line for line in _read_lines(file) if line]


def _read_parallel(file_a: Path, file_b: Path) -> list[tuple[str, str]]:
    """The line pairs of two aligned files, skipping pairs with a blank side."""
    lines_a, lines_b = _read_lines(file_a), _read_lines(file_b)
    if len(lines_a) != len(lines_b):
        raise ErnieMError(
            f"{file_a} has {len(lines_a)} lines but {file_b} has {len(lines_b)}; parallel files must be line-aligned"
        )
    return [(a, b) for a, b in zip(lines_a, lines_b) if a and b]
