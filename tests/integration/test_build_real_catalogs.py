"""A corpus built from this machine's real translation catalogs has plausible per-language counts."""

from __future__ import annotations

import pytest

from ernie_m.data.build import BuildOptions, build_corpus, open_corpus
from ernie_m.data.catalogs import DEFAULT_LOCALE_DIR

LANGUAGES = ("de", "fr", "ru", "zh")
pytestmark = pytest.mark.skipif(
    not all((DEFAULT_LOCALE_DIR / code / "LC_MESSAGES").is_dir() for code in ("de", "fr", "ru", "zh_CN")),
    reason="this machine has no de/fr/ru/zh_CN translation catalogs",
)


def test_real_catalog_corpus(tmp_path):
    manifest = build_corpus(BuildOptions(catalog_languages=LANGUAGES, mono_only=("ru",)), tmp_path / "c")
    languages = manifest["languages"]
    for lang in ("de", "fr", "zh"):
        entry = languages[lang]
        assert entry["pairs"]["train"] > 8_000, (lang, entry)
        assert entry["pairs"]["dev"] == 500 and entry["pairs"]["test"] == 1_000
        assert entry["read"]["catalogs"] > 30 and entry["removed"]["placeholder"] > 1_000
    assert languages["ru"]["pairs"]["train"] == 0 and languages["ru"]["mono"] > 8_000
    assert languages["ru"]["pairs"]["test"] == 1_000
    assert languages["zh"]["words"] > languages["zh"]["pairs"]["train"] * 3  # characters count as words
    train = open_corpus(tmp_path / "c")
    assert set(train.pairs) == {("en", "de"), ("en", "fr"), ("en", "zh")}
    assert any("Datei" in de for _, de in train.pairs[("en", "de")])
    assert all(any("\u0400" <= ch <= "\u04ff" for ch in line) for line in train.mono["ru"][:200])
