"""LibreOffice help pairs from fake unpacked packages; package names; fetching with fake or real apt tools."""

import os
import time
from pathlib import Path

import pytest

from ernie_m.data import debian
from ernie_m.data.debian import (
    fetch_packages,
    libreoffice_help_packages,
    libreoffice_help_pairs,
    read_help_paragraphs,
)
from ernie_m.errors import ErnieMError

# Shaped like the real pages of libreoffice-help-* 7.4: page chrome with ids, aligned <p>/<h*> ids,
# a macOS alternative beside the default text, entities, links and nested spans inside paragraphs.
ENGLISH_PAGE = """<!DOCTYPE html>
<html lang="en-US" dir="ltr"><head><title>Positioning Objects</title></head>
<body><header id="TopLeftHeader"><a class="logo" href="x"><p dir="auto">LibreOffice 7.4 Help</p></a></header>
<div id="DisplayArea" itemprop="softwareHelp">
<h1 id="hd_id3147828" dir="auto">
<a name="anchor_object"></a>Positioning   Objects</h1>
<p id="par_id3147251" class="paragraph" dir="auto">An anchor moves with
  the <a target="_top" href="en-US/text/x.html">element</a> it is attached to.</p>
<p id="par_id211641581251728" dir="auto">Use the shortcut <span id="swlnsystextswritermain0202xml_1" class="switchinline"><span hidden="true" id="MACtextswritermain0202xml_1" class="MAC"><span class="keycode">Command</span></span><span hidden="true" id="defaulttextswritermain0202xml_1"><span class="keycode">Ctrl</span></span></span><span class="keycode"> + F</span> to search &amp; replace &lt;text&gt;.</p>
<table><tr><td><p id="par_id3145650" class="tablecontentintable" dir="auto">As character<br>anchor</p></td></tr></table>
<p id="par_idN10674" class="paragraph" dir="auto">Only in English.</p>
<p id="par_id3155071" class="paragraph" dir="auto">Not translated.</p>
<p id="par_id3155094" class="paragraph" dir="auto"><span class="emph">Empty</span> in German.</p>
<p id="par_id3151181" dir="auto">Tools - Options</p>
<p id="par_id3151181" dir="auto">Tools - Options - General</p>
<div class="embedded"><p class="embedded" dir="auto">Embedded text without an id.</p></div>
</div>
<footer><div id="DEBUG" class="debug"><p id="bm_module" dir="auto"></p></div></footer>
</body></html>
"""

GERMAN_PAGE = """<!DOCTYPE html>
<html lang="de" dir="ltr"><head><title>Positionieren von Objekten</title></head>
<body><header id="TopLeftHeader"><a class="logo" href="x"><p dir="auto">LibreOffice 7.4 Hilfe</p></a></header>
<div id="DisplayArea" itemprop="softwareHelp">
<h1 id="hd_id3147828" dir="auto">
<a name="anchor_object"></a>Positionieren von Objekten</h1>
<p id="par_id3145650" class="tablecontentintable" dir="auto">Als Zeichen<br>verankern</p>
<p id="par_id3147251" class="paragraph" dir="auto">Ein Anker bewegt sich mit dem
  <a target="_top" href="de/text/x.html">Element</a>, an das er angeh&auml;ngt ist.</p>
<p id="par_id211641581251728" dir="auto">Verwenden Sie <span id="swlnsystextswritermain0202xml_1" class="switchinline"><span hidden="true" id="MACtextswritermain0202xml_1" class="MAC"><span class="keycode">Befehl</span></span><span hidden="true" id="defaulttextswritermain0202xml_1"><span class="keycode">Strg</span></span></span><span class="keycode">+F</span>, um &#x201E;&lt;Text&gt;&#x201C; zu ersetzen.</p>
<p id="par_id3155071" class="paragraph" dir="auto">Not translated.</p>
<p id="par_id3155094" class="paragraph" dir="auto">  </p>
<p id="par_id3151181" dir="auto">Extras - Optionen</p>
<p id="par_id3151181" dir="auto">Extras - Optionen - Allgemein</p>
<p id="par_id999" class="paragraph" dir="auto">Nur auf Deutsch.</p>
</div>
<footer><div id="DEBUG" class="debug"><p id="bm_module" dir="auto"></p></div></footer>
</body></html>
"""

GERMAN_PAIRS = [
    ("Positioning Objects", "Positionieren von Objekten"),
    (
        "An anchor moves with the element it is attached to.",
        "Ein Anker bewegt sich mit dem Element, an das er angehängt ist.",
    ),
    ("Use the shortcut Ctrl + F to search & replace <text>.", "Verwenden Sie Strg+F, um „<Text>“ zu ersetzen."),
    ("As character anchor", "Als Zeichen verankern"),
    ("Tools - Options", "Extras - Optionen"),
    ("Tools - Options - General", "Extras - Optionen - Allgemein"),
]


def write_page(root: Path, locale: str, page: str, markup: str) -> None:
    """Write one help page where an unpacked libreoffice-help package has it."""
    file = root / "usr/share/libreoffice/help" / locale / "text" / page
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(markup, encoding="utf-8")


def test_paragraphs_align_by_id_with_text_from_the_markup(tmp_path):
    write_page(tmp_path / "en", "en-US", "swriter/guide/anchor_object.html", ENGLISH_PAGE)
    write_page(tmp_path / "de", "de", "swriter/guide/anchor_object.html", GERMAN_PAGE)
    pairs = libreoffice_help_pairs(tmp_path / "en", {"de": tmp_path / "de"})
    assert pairs == {("en", "de"): GERMAN_PAIRS}


def test_repeated_ids_are_told_apart_by_occurrence(tmp_path):
    write_page(tmp_path, "en-US", "page.html", ENGLISH_PAGE)
    paragraphs = dict(read_help_paragraphs(next(tmp_path.rglob("page.html"))))
    assert paragraphs[("par_id3151181", 0)] == "Tools - Options"
    assert paragraphs[("par_id3151181", 1)] == "Tools - Options - General"
    assert ("bm_module", 0) in paragraphs and paragraphs[("bm_module", 0)] == ""


def test_files_are_sorted_pairs_repeat_once_and_files_of_one_language_are_skipped(tmp_path):
    def page(*texts):
        return "".join(f'<p id="par_id{i}">{text}</p>' for i, text in enumerate(texts))

    write_page(tmp_path / "en", "en-US", "b/second.html", page("Two", "One"))
    write_page(tmp_path / "en", "en-US", "a/first.html", page("One", "Three"))
    write_page(tmp_path / "en", "en-US", "c/english_only.html", page("Four"))
    write_page(tmp_path / "fr", "fr", "b/second.html", page("Deux", "Un"))
    write_page(tmp_path / "fr", "fr", "a/first.html", page("Un", "Trois"))
    write_page(tmp_path / "fr", "fr", "d/french_only.html", page("Cinq"))
    pairs = libreoffice_help_pairs(tmp_path / "en", {"fr": tmp_path / "fr"})
    assert pairs == {("en", "fr"): [("One", "Un"), ("Three", "Trois"), ("Two", "Deux")]}


def test_several_languages_with_normalised_codes(tmp_path):
    write_page(tmp_path / "en", "en-US", "p.html", '<p id="a">Open</p>')
    write_page(tmp_path / "zh-cn", "zh-CN", "p.html", '<p id="a">打开</p>')
    write_page(tmp_path / "pt-br", "pt-BR", "p.html", '<p id="a">Abrir</p>')
    pairs = libreoffice_help_pairs(tmp_path / "en", {"zh_CN": tmp_path / "zh-cn", "pt_BR": tmp_path / "pt-br"})
    assert pairs == {("en", "pt_BR"): [("Open", "Abrir")], ("en", "zh"): [("Open", "打开")]}


def test_a_root_without_help_pages_is_an_error(tmp_path):
    write_page(tmp_path / "en", "en-US", "p.html", '<p id="a">Open</p>')
    (tmp_path / "empty").mkdir()
    with pytest.raises(ErnieMError, match="unpacked libreoffice-help package"):
        libreoffice_help_pairs(tmp_path / "en", {"de": tmp_path / "empty"})


def test_package_names_for_language_codes():
    assert libreoffice_help_packages(["en", "de", "zh", "zh_TW", "pt_BR", "de_DE", "el"]) == [
        "libreoffice-help-en-us",
        "libreoffice-help-de",
        "libreoffice-help-zh-cn",
        "libreoffice-help-zh-tw",
        "libreoffice-help-pt-br",
        "libreoffice-help-el",
    ]
    assert libreoffice_help_packages(["zh_CN", "pt_PT", "en_GB"]) == [
        "libreoffice-help-zh-cn",
        "libreoffice-help-pt",
        "libreoffice-help-en-us",
    ]


def test_fetch_without_apt_get_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setattr(debian.shutil, "which", lambda tool: None if tool == "apt-get" else f"/usr/bin/{tool}")
    with pytest.raises(ErnieMError, match="apt-get not found"):
        fetch_packages(["libreoffice-help-de"], tmp_path / "cache")


def test_fetch_reuses_unpacked_packages_without_apt(tmp_path, monkeypatch):
    monkeypatch.setattr(debian.shutil, "which", lambda tool: None)
    (tmp_path / "libreoffice-help-de").mkdir()
    assert fetch_packages(["libreoffice-help-de"], tmp_path) == {
        "libreoffice-help-de": tmp_path / "libreoffice-help-de"
    }


def test_fetch_refuses_what_is_not_a_package_name(tmp_path):
    with pytest.raises(ErnieMError, match="not a Debian package name"):
        fetch_packages(["--option=x"], tmp_path)


def fake_tool(bin_dir: Path, name: str, script: str) -> None:
    """An executable shell script named `name` in `bin_dir`."""
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / name).write_text("#!/bin/sh\n" + script)
    (bin_dir / name).chmod(0o755)


@pytest.fixture
def fake_apt(tmp_path, monkeypatch):
    """Fake apt-get (writes `<name>_1_all.deb` in the working directory, fails for unknown-*) and dpkg-deb."""
    bin_dir = tmp_path / "bin"
    fake_tool(
        bin_dir,
        "apt-get",
        'case "$2" in unknown-*) echo "E: Unable to locate package $2" >&2; exit 100;; esac\n'
        'echo "$2" > "$2_1_all.deb"\n',
    )
    fake_tool(bin_dir, "dpkg-deb", 'mkdir -p "$3/usr/share/doc" && cp "$2" "$3/usr/share/doc/name"\n')
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return bin_dir


def test_fetch_downloads_and_unpacks_each_package_once(tmp_path, fake_apt):
    cache = tmp_path / "cache"
    roots = fetch_packages(["pkg-a", "pkg-b"], cache)
    assert roots == {"pkg-a": cache / "pkg-a", "pkg-b": cache / "pkg-b"}
    assert (cache / "pkg-a/usr/share/doc/name").read_text() == "pkg-a\n"
    assert sorted(path.name for path in cache.iterdir()) == ["pkg-a", "pkg-b"]  # no scratch or .deb left
    fake_tool(fake_apt, "apt-get", "exit 1\n")  # a second fetch must not download again
    assert fetch_packages(["pkg-a"], cache) == {"pkg-a": cache / "pkg-a"}


def test_fetch_of_an_unknown_package_quotes_apt_and_leaves_nothing(tmp_path, fake_apt):
    with pytest.raises(ErnieMError, match="Unable to locate package unknown-pkg"):
        fetch_packages(["unknown-pkg"], tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []


def test_an_interrupted_unpack_leaves_no_root(tmp_path, fake_apt):
    fake_tool(fake_apt, "dpkg-deb", 'mkdir -p "$3/usr" && echo "dpkg-deb: error: unexpected end of file" >&2; exit 2\n')
    with pytest.raises(ErnieMError, match="unpacking pkg-a_1_all.deb failed: dpkg-deb: error: unexpected end"):
        fetch_packages(["pkg-a"], tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("ERNIE_M_NETWORK_TESTS") != "1", reason="set ERNIE_M_NETWORK_TESTS=1 to download")
def test_real_libreoffice_help_packages(tmp_path):
    try:
        roots = fetch_packages(libreoffice_help_packages(["en", "de"]), tmp_path)
    except ErnieMError as error:
        pytest.skip(f"no apt or no network: {error}")
    started = time.perf_counter()
    pairs = libreoffice_help_pairs(roots["libreoffice-help-en-us"], {"de": roots["libreoffice-help-de"]})[("en", "de")]
    print(f"{len(pairs)} en-de pairs in {time.perf_counter() - started:.1f} s")
    assert len(pairs) > 5000
    long_pairs = [(en, de) for en, de in pairs if len(en.split()) >= 8]
    assert len(long_pairs) > 5000
    assert all(en.strip() == en and de.strip() == de and "  " not in en + de for en, de in pairs)
    assert not any("<" in en and ">" in en and "class=" in en for en, _ in pairs)  # no markup left
    german = sum(any(word in de.split() for word in ("der", "die", "und", "Sie")) for _, de in long_pairs)
    assert german > 0.8 * len(long_pairs)
