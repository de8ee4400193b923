"""`corpus build`: held-out splits that share nothing with training, monolingual-only languages,
a manifest with counts, atomic output, and the reader that the trainer uses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import write_corpus

from ernie_m.data import build
from ernie_m.data.build import BuildOptions, build_corpus, open_corpus, read_manifest
from ernie_m.data.corpus import read_corpus_dir
from ernie_m.errors import ErnieMError


@pytest.fixture(scope="module")
def user_dir(tmp_path_factory) -> Path:
    directory = write_corpus(tmp_path_factory.mktemp("user"), pairs=400, mono=150)
    (directory / "fr-en.fr").write_text("Le chat et la maison.\nLe chien et le livre.\n" * 1, encoding="utf-8")
    (directory / "fr-en.en").write_text("The cat and the house.\nThe dog and the book.\n", encoding="utf-8")
    return directory


def options(user_dir: Path, **changes) -> BuildOptions:
    base = dict(catalog_languages=(), user_corpora=(user_dir,), dev_pairs=10, test_pairs=20, min_train_pairs=50)
    return BuildOptions(**{**base, **changes})


def keys(lines) -> set[str]:
    return {" ".join(line.lower().split()) for line in lines}


def test_layout_manifest_and_held_out_splits_share_no_sentence(user_dir, tmp_path):
    out = tmp_path / "corpus"
    manifest = build_corpus(options(user_dir), out)
    assert sorted(p.name for p in out.iterdir()) == ["dev", "manifest.json", "test", "train"]
    assert manifest == json.loads((out / "manifest.json").read_text())
    train, dev, test = (read_corpus_dir(out / split) for split in ("train", "dev", "test"))
    assert len(dev.pairs[("en", "de")]) == 10 and len(test.pairs[("en", "de")]) == 20
    assert ("en", "fr") not in dev.pairs  # too few pairs for a split
    held = keys(side for split in (dev, test) for pairs in split.pairs.values() for pair in pairs for side in pair)
    trained = keys(side for pairs in train.pairs.values() for pair in pairs for side in pair)
    trained |= keys(line for lines in train.mono.values() for line in lines)
    assert held and not held & trained
    de = manifest["languages"]["de"]
    assert de["pairs"]["dev"] == 10 and de["pairs"]["train"] == len(train.pairs[("en", "de")])
    assert manifest["languages"]["fr"]["mono"] == len(train.mono["fr"]) > 140
    assert manifest["languages"]["fr"]["words"] > 3 * len(train.mono["fr"])


def test_user_pairs_are_keyed_english_first(user_dir, tmp_path):
    build_corpus(options(user_dir), tmp_path / "c")
    train = open_corpus(tmp_path / "c")
    assert set(train.pairs) == {("en", "de"), ("en", "fr")}
    assert all(pair[1].startswith("Das ") for pair in train.pairs[("en", "de")])


def test_monolingual_only_languages_keep_their_side_and_lose_their_pairs(user_dir, tmp_path):
    manifest = build_corpus(options(user_dir, mono_only=("de",)), tmp_path / "c")
    train = open_corpus(tmp_path / "c")
    assert ("en", "de") not in train.pairs and ("en", "fr") in train.pairs
    assert len(train.mono["de"]) == manifest["languages"]["de"]["mono"] > 300
    assert all(line.startswith("Das ") for line in train.mono["de"])
    english = keys(pair[0] for pair in read_corpus_dir(tmp_path / "c" / "dev").pairs[("en", "de")])
    assert not english & keys(line for lines in train.mono.values() for line in lines)
    assert read_corpus_dir(tmp_path / "c" / "test").pairs[("en", "de")]  # still evaluated
    with pytest.raises(ErnieMError, match="--mono-only: sw not in the corpus"):
        build_corpus(options(user_dir, mono_only=("sw",)), tmp_path / "d")


def test_an_interrupted_build_leaves_no_corpus(user_dir, tmp_path, monkeypatch):
    def crash(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(build, "_write_lines", crash)
    with pytest.raises(KeyboardInterrupt):
        build_corpus(options(user_dir), tmp_path / "c")
    assert not (tmp_path / "c").exists()
    with pytest.raises(ErnieMError, match="no manifest"):
        read_manifest(tmp_path / "c")


def test_existing_output_and_old_formats_are_refused(user_dir, tmp_path):
    build_corpus(options(user_dir), tmp_path / "c")
    with pytest.raises(ErnieMError, match="already exists"):
        build_corpus(options(user_dir), tmp_path / "c")
    manifest = json.loads((tmp_path / "c" / "manifest.json").read_text())
    (tmp_path / "c" / "manifest.json").write_text(json.dumps({**manifest, "format_version": 0}))
    with pytest.raises(ErnieMError, match="corpus format 0.*rebuild"):
        open_corpus(tmp_path / "c")


def test_cleaning_is_counted(user_dir, tmp_path):
    dirty = tmp_path / "dirty"
    dirty.mkdir()
    (dirty / "ru-en.ru").write_text("Открыть файл сейчас\nOpen the file now\nСохранить %s файл\n" * 1, encoding="utf-8")
    (dirty / "ru-en.en").write_text("Open the file now\nOpen the file now\nSave %s file\n", encoding="utf-8")
    manifest = build_corpus(options(dirty), tmp_path / "c")
    removed = manifest["languages"]["ru"]["removed"]
    assert removed["placeholder"] == 1 and removed["untranslated"] + removed.get("wrong_script", 0) >= 1
    assert manifest["languages"]["ru"]["pairs"]["train"] == 1


def test_debian_packages_are_skipped_with_a_message_where_apt_fails(user_dir, tmp_path, monkeypatch, caplog):
    from ernie_m.data import debian

    def no_apt(*args, **kwargs):
        raise ErnieMError("apt-get not found: install apt or drop --debian-package")

    monkeypatch.setattr(debian, "fetch_packages", no_apt)
    with caplog.at_level("WARNING"):
        manifest = build_corpus(options(user_dir, debian_packages=("libreoffice-help",)), tmp_path / "c")
    assert "skipping Debian packages: apt-get not found" in caplog.text
    assert manifest["languages"]["de"]["pairs"]["train"] > 0
    with pytest.raises(ErnieMError, match="unknown source"):
        build_corpus(options(user_dir, debian_packages=("firefox-l10n",)), tmp_path / "d")


def test_each_help_language_is_paired_with_its_own_package(user_dir, tmp_path, monkeypatch):
    """English named among the languages (or alone) shifts no pairing: de reads de's help, fr fr's."""
    from ernie_m.data import build, debian

    fetched = []
    monkeypatch.setattr(
        debian, "fetch_packages", lambda names, cache: fetched.append(names) or {n: tmp_path / n for n in names}
    )
    monkeypatch.setattr(debian, "libreoffice_help_pairs", lambda english, others: {"en": english, **others})
    found = build._debian_pairs(
        options(user_dir, catalog_languages=("en", "de", "fr"), debian_packages=("libreoffice-help",))
    )
    assert found == {
        "en": tmp_path / "libreoffice-help-en-us",
        "de": tmp_path / "libreoffice-help-de",
        "fr": tmp_path / "libreoffice-help-fr",
    }
    assert (
        build._debian_pairs(options(user_dir, catalog_languages=("en",), debian_packages=("libreoffice-help",))) == {}
    )
    assert len(fetched) == 1  # English alone: nothing to pair it with, nothing fetched
