"""Longer, prose-like English-X pairs from Debian translation packages: LibreOffice's help.

`libreoffice-help-<lang>` packages hold the same help pages in every
language, as HTML generated from one source, so a paragraph keeps its
element id across translations:

    usr/share/libreoffice/help/en-US/text/swriter/guide/anchor_object.html
        <p id="par_id3147251" class="paragraph" dir="auto">An anchor moves with ...</p>
    usr/share/libreoffice/help/de/text/swriter/guide/anchor_object.html
        <p id="par_id3147251" class="paragraph" dir="auto">Ein Anker bewegt sich ...</p>

Paragraphs and headings (`p`, `h1`..`h6` with an id) are aligned by
(file, id, occurrence of that id in the file). Operating-system alternatives
(`<span hidden class="MAC">Command</span>` beside the default `Ctrl`) are
dropped so that a paragraph reads as on Linux; other markup is reduced to
its text, whitespace collapsed. Untranslated paragraphs (identical to the
English) are skipped.

`fetch_packages` downloads with `apt-get download` (no root needed) and
unpacks with `dpkg-deb -x` into a cache, once per package.
"""

import os
import re
import shutil
import subprocess
import tempfile
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

from tqdm import tqdm

from ernie_m.data.languages import normalize_language
from ernie_m.errors import ErnieMError

HELP_DIR = Path("usr/share/libreoffice/help")
COMMAND_TIMEOUT_S = 600

# Canonical language -> suffix of its help package where it is not simply the lowercased code.
_HELP_PACKAGE_SUFFIX = {"en": "en-us", "zh": "zh-cn", "zh_TW": "zh-tw", "pt_BR": "pt-br"}
_PACKAGE_NAME = re.compile(r"[a-z0-9][a-z0-9+.-]+")  # Debian policy 5.6.1; also keeps options out of argv
_PARAGRAPH_TAGS = {"p", "h1", "h2", "h3", "h4", "h5", "h6"}
# Classes of the spans that replace the default text on another operating system: "Command" for "Ctrl" on macOS.
_OTHER_SYSTEMS = {"MAC", "WIN", "UNIX"}
_WHITESPACE = re.compile(r"\s+")

ParagraphKey = tuple[str, int]  # (element id, how many earlier elements of the file carry the same id)


def libreoffice_help_packages(languages: list[str]) -> list[str]:
    """Help package names for language codes, in the given order: `de` -> `libreoffice-help-de`, `en` -> `...-en-us`."""
    names = []
    for code in languages:
        lang = normalize_language(code)
        name = "libreoffice-help-" + _HELP_PACKAGE_SUFFIX.get(lang, lang.lower().replace("_", "-"))
        if name not in names:
            names.append(name)
    return names


def fetch_packages(names: list[str], cache_dir: Path, progress: bool = False) -> dict[str, Path]:
    """Download and unpack each package into `cache_dir/<name>/` unless there already; return name -> that root."""
    cache_dir = Path(cache_dir)
    for name in names:
        if not _PACKAGE_NAME.fullmatch(name):
            raise ErnieMError(f"{name!r} is not a Debian package name")
    roots = {name: cache_dir / name for name in names}
    missing = [name for name, root in roots.items() if not root.is_dir()]
    if missing:
        _require_tools()
        cache_dir.mkdir(parents=True, exist_ok=True)
    for name in tqdm(missing, desc="fetch", unit="pkg", disable=not progress):
        _download_and_unpack(name, cache_dir)
    return roots


def _require_tools() -> None:
    """Fail with one clear line where the Debian tools are not installed."""
    for tool in ("apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise ErnieMError(f"{tool} not found: fetching Debian packages needs a Debian or Ubuntu system with apt")


def _download_and_unpack(name: str, cache_dir: Path) -> None:
    """Unpack `name` in a scratch directory, then rename it to `cache_dir/name`: a killed fetch leaves no root."""
    scratch = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=cache_dir))
    try:
        _run(["apt-get", "download", name], cwd=scratch, what=f"downloading {name}")
        debs = sorted(scratch.glob("*.deb"))
        if len(debs) != 1:
            raise ErnieMError(f"apt-get download {name} left {len(debs)} .deb files in {scratch}, expected 1")
        _run(["dpkg-deb", "-x", str(debs[0]), str(scratch / "root")], cwd=scratch, what=f"unpacking {debs[0].name}")
        _publish(scratch / "root", cache_dir / name)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _publish(unpacked: Path, root: Path) -> None:
    """Rename the finished tree into place; a concurrent fetch of the same package may have got there first."""
    try:
        os.rename(unpacked, root)
    except OSError:
        if not root.is_dir():
            raise


def _run(command: list[str], cwd: Path, what: str) -> None:
    """Run a command; turn a failure or timeout into an ErnieMError quoting apt's own reason."""
    try:
        subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=True, timeout=COMMAND_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise ErnieMError(f"{what}: no answer within {COMMAND_TIMEOUT_S} s") from None
    except subprocess.CalledProcessError as error:
        raise ErnieMError(f"{what} failed: {_last_error_line(error.stderr)}") from None


def _last_error_line(stderr: str) -> str:
    """apt's `E: ...` line (the reason) where there is one, else the last line of stderr."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("E:")]
    return (errors or lines or ["no message"])[-1]


def libreoffice_help_pairs(
    english_root: Path, other_roots: dict[str, Path]
) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """`("en", lang)` -> (English, translation) paragraphs aligned by (file, element id); files sorted, document order.

    Roots are unpacked help packages (`fetch_packages`); languages are normalised (`zh_CN` -> `zh`).
    A paragraph missing or empty on either side, or left untranslated (identical), is skipped; a repeated
    pair is kept once.
    """
    english_dir = _help_text_dir(english_root)
    other_dirs = {normalize_language(code): _help_text_dir(root) for code, root in sorted(other_roots.items())}
    pairs = {("en", lang): [] for lang in other_dirs}
    for file in sorted(path.relative_to(english_dir) for path in english_dir.rglob("*.html")):
        english = read_help_paragraphs(english_dir / file)  # parsed once for all languages: parsing dominates
        for lang, other_dir in other_dirs.items():
            if (other_dir / file).is_file():
                pairs[("en", lang)].extend(_align(english, read_help_paragraphs(other_dir / file)))
    # A third of the pairs repeat (shared notes, "Choose Tools - Options"); keep each once, where it first occurs.
    return {pair: list(dict.fromkeys(found)) for pair, found in pairs.items()}


def _help_text_dir(root: Path) -> Path:
    """The one `usr/share/libreoffice/help/<locale>/text` directory of an unpacked help package."""
    found = sorted(Path(root).glob(f"{HELP_DIR}/*/text"))
    if len(found) != 1:
        raise ErnieMError(
            f"{root}: expected one {HELP_DIR}/<locale>/text directory (an unpacked libreoffice-help package), "
            f"found {len(found)}"
        )
    return found[0]


def _align(english: list[tuple[ParagraphKey, str]], other: list[tuple[ParagraphKey, str]]) -> list[tuple[str, str]]:
    """(English, other) for each key present, non-empty and translated, in English document order.

    An identical pair is skipped: an untranslated paragraph falls back to English (40% of them in ru, zh)
    and the rest are code and function names.
    """
    translations = dict(other)
    pairs = []
    for key, text in english:
        translation = translations.get(key, "")
        if text and translation and translation != text:
            pairs.append((text, translation))
    return pairs


def read_help_paragraphs(file: Path) -> list[tuple[ParagraphKey, str]]:
    """The paragraphs of one help page in document order, keyed by (id, occurrence), text with whitespace collapsed."""
    try:
        markup = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ErnieMError(f"{file}: cannot read help page ({error})") from None
    parser = _ParagraphParser()
    parser.feed(markup)
    parser.close()
    return parser.paragraphs


class _ParagraphParser(HTMLParser):
    """Collects the text of id-carrying paragraphs and headings, skipping other operating systems' alternatives."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)  # entities arrive decoded in handle_data
        self.paragraphs: list[tuple[ParagraphKey, str]] = []
        self._seen_ids: Counter[str] = Counter()
        self._open: list[tuple[str, str, list[str]]] = []  # (tag, id, text parts) of unclosed paragraphs
        self._hidden_spans = 0  # spans open inside (and including) another system's alternative

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if self._hidden_spans or (tag == "span" and attributes.get("class") in _OTHER_SYSTEMS):
            self._hidden_spans += tag == "span"
        elif tag in _PARAGRAPH_TAGS and attributes.get("id"):
            self._open.append((tag, attributes["id"], []))
        elif tag == "br" and self._open:
            self._open[-1][2].append(" ")

    def handle_endtag(self, tag: str) -> None:
        if self._hidden_spans:
            self._hidden_spans -= tag == "span"
        elif self._open and self._open[-1][0] == tag:
            _, element_id, parts = self._open.pop()
            key = (element_id, self._seen_ids[element_id])
            self._seen_ids[element_id] += 1
            self.paragraphs.append((key, _WHITESPACE.sub(" ", "".join(parts)).strip()))

    def handle_data(self, data: str) -> None:
        if not self._hidden_spans and self._open:
            self._open[-1][2].append(data)
