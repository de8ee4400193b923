"""The demo's and the ablation's pieces: report tables and charts, cached inputs, ablation arms."""

import dataclasses
import json
import re
from pathlib import Path

import pytest
from test_catalogs import write_catalog

from ernie_m.config import TokenizerConfig, config_from_dict, load_config
from ernie_m.data.build import BuildOptions, read_manifest
from ernie_m.errors import ErnieMError
from ernie_m.experiments import inputs, report, scored
from ernie_m.experiments.ablation import ARMS, arm_config, run_ablation
from ernie_m.experiments.inputs import Inputs
from ernie_m.train.run import RunSettings

PNG = b"\x89PNG\r\n\x1a\n"
# A `heldout` result; the monolingual-only language comes first to check that rows are grouped.
RESULT = {
    "scores": {"it->en": 30.0, "en->it": 50.0, "de->en": 10.0, "en->de": 20.0, "fr->en": 40.0, "en->fr": 60.0},
    "overlap_floor": {"it->en": 70.0, "en->it": 70.0, "de->en": 80.0, "en->de": 90.0, "fr->en": 90.0, "en->fr": 100.0},
    "mono_only": ["it"],
}
PAIRS_ONLY = {
    "scores": {"de->en": 10.0, "en->de": 20.0},
    "overlap_floor": {"de->en": 1.0, "en->de": 2.0},
    "mono_only": [],
}


def shifted(result: dict, by: float) -> dict:
    """`result` with every score raised by `by`."""
    return {**result, "scores": {key: value + by for key, value in result["scores"].items()}}


def run(measured: dict, tokens_per_s: float | None, measure: str = "heldout") -> dict:
    """A scored run (ernie_m.experiments.scored) holding one measure."""
    return {measure: measured, "training": {"steps": 4, "final_loss": {"mmlm": 2.0}, "tokens_per_s": tokens_per_s}}


def test_languages_by_group_and_group_averages():
    """Languages split by mono_only; averages over each group's languages and the chosen directions."""
    assert report.languages_by_group(RESULT) == {"parallel": ["de", "fr"], "monolingual-only": ["it"]}
    assert report.group_averages(RESULT) == {"parallel": 32.5, "monolingual-only": 40.0}
    assert report.group_averages(RESULT, ("{}->en",)) == {"parallel": 25.0, "monolingual-only": 30.0}
    assert report.group_averages(RESULT, ("en->{}",)) == {"parallel": 40.0, "monolingual-only": 50.0}
    assert report.group_averages(PAIRS_ONLY) == {"parallel": 15.0}  # an empty group has no average


def test_alignment_table_rows_and_averages():
    """One row per language, parallel ones first, then each group's X->en and en->X averages."""
    assert report.alignment_table(RESULT).splitlines() == [
        "| language | trained with | X->en | en->X |",
        "|---|---|---:|---:|",
        "| de | pairs | 10.0 | 20.0 |",
        "| fr | pairs | 40.0 | 60.0 |",
        "| it | monolingual text only | 30.0 | 50.0 |",
        "| **average** | parallel | 25.0 | 40.0 |",
        "| **average** | monolingual-only | 30.0 | 50.0 |",
    ]
    with_before = report.alignment_table(RESULT, before=shifted(RESULT, -5.0)).splitlines()
    assert (
        with_before[0].endswith("| X->en before | en->X before |") and with_before[1] == "|---|---|---:|---:|---:|---:|"
    )
    assert with_before[2] == "| de | pairs | 10.0 | 20.0 | 5.0 | 15.0 |"
    assert with_before[-1] == "| **average** | monolingual-only | 30.0 | 50.0 | 25.0 | 45.0 |"


def test_ablation_table_means_ranges_missing_group_and_floor():
    """Mean over seeds with (lowest-highest), one seed's value alone; "-" for an arm without
    monolingual-only languages or speed; last, the first run's token-overlap floor."""
    untrained = run(shifted(RESULT, -10.0), None)  # a model scored before training has no speed
    results = {
        "A": [run(RESULT, 1000.0), run(shifted(RESULT, 10.0), 3000.0)],
        "B": [run(PAIRS_ONLY, 500.0)],
        "C": [untrained],
    }
    assert report.ablation_table(results, "heldout").splitlines()[2:] == [
        "| A | 2 | 37.5 (32.5-42.5) | 45.0 (40.0-50.0) | 2,000 |",
        "| B | 1 | 15.0 | - | 500 |",
        "| C | 1 | 22.5 | 30.0 | - |",
        "| token overlap (TF-IDF), no model | - | 90.0 | 70.0 | - |",
    ]


def with_hits(hits: dict[str, str], mono_only: list[str]) -> dict:
    """A retrieval result holding each sentence's outcome per direction."""
    return {
        "scores": {key: 100 * value.count("1") / len(value) for key, value in hits.items()},
        "hits": hits,
        "mono_only": mono_only,
    }


def test_comparison_table_bootstraps_paired_sentences_per_group():
    """The outcome of each sentence is averaged over seeds and compared sentence by sentence: B finds
    every sentence A does and two more of eight on de, so +25 points on the parallel group; the
    monolingual-only group is the same in both (0.0 exactly); a missing arm is left out."""
    a_hits = {"de->en": "1000", "en->de": "1000", "it->en": "1100", "en->it": "0011"}
    b_hits = {**a_hits, "de->en": "1100", "en->de": "1010"}
    results = {
        "A": [run(with_hits(a_hits, ["it"]), 1.0)] * 2,
        "B": [run(with_hits(b_hits, ["it"]), 1.0), run(with_hits(b_hits, ["it"]), 1.0)],
    }
    lines = report.comparison_table(results, "heldout", [("B", "A"), ("C", "A")]).splitlines()
    assert len(lines) == 3 and lines[2].startswith("| B vs A | +25.0 (")
    assert lines[2].endswith("| +0.0 (+0.0 to +0.0) |")


def test_loss_chart_plots_each_objective_and_the_stage_boundary(tmp_path, monkeypatch):
    """Checkpoint events are skipped; one line per loss and a vertical line where the stage changes."""
    records = [
        {
            "step": step,
            "stage": stage,
            "lr": 1e-3,
            "loss/mmlm": 5.0 - step,
            "loss/camlm": 6.0 - step,
            "tokens_per_s": 100.0,
        }
        for step, stage in ((1, "align"), (2, "align"), (3, "back-translate"), (4, "back-translate"))
    ]
    records.insert(2, {"step": 2, "event": "checkpoint", "param_checksums": {"w": 1.0}})
    (tmp_path / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    plotted, save = [], report._save

    def spy(plt, fig, png):
        plotted.extend((line.get_label(), list(line.get_xdata())) for line in fig.axes[0].lines)
        save(plt, fig, png)

    monkeypatch.setattr(report, "_save", spy)
    report.loss_chart(tmp_path / "log.jsonl", tmp_path / "losses.png")
    assert plotted[:2] == [("camlm", [1, 2, 3, 4]), ("mmlm", [1, 2, 3, 4])]
    assert [x for label, x in plotted[2:]] == [[2, 2]]
    assert (tmp_path / "losses.png").read_bytes().startswith(PNG)


def test_alignment_and_ablation_charts_write_pngs(tmp_path):
    """Both charts write a PNG, the alignment chart with and without the scores before pre-training,
    the ablation chart also for an arm without monolingual-only languages."""
    report.alignment_chart(RESULT, tmp_path / "alignment.png", before=shifted(RESULT, -5.0))
    report.alignment_chart(RESULT, tmp_path / "alignment-alone.png")
    two_measures = {"heldout": RESULT, "xnli-retrieval": PAIRS_ONLY, "training": {"tokens_per_s": 1.0}}
    report.ablation_chart(
        {"A": [two_measures, two_measures], "B": [{**two_measures, "heldout": PAIRS_ONLY}]}, tmp_path / "ablation.png"
    )
    for name in ("alignment.png", "alignment-alone.png", "ablation.png"):
        assert (tmp_path / name).read_bytes().startswith(PNG)


# 6 verbs x 5 adjectives x 5 nouns = 150 distinct English phrases, with German and French translations.
VERBS = [
    ("Open", "Öffne", "Ouvre"),
    ("Close", "Schließe", "Ferme"),
    ("Save", "Speichere", "Enregistre"),
    ("Delete", "Lösche", "Supprime"),
    ("Copy", "Kopiere", "Copie"),
    ("Print", "Drucke", "Imprime"),
]
ADJECTIVES = [
    ("new", "neue", "nouveau"),
    ("old", "alte", "ancien"),
    ("large", "große", "grand"),
    ("small", "kleine", "petit"),
    ("hidden", "versteckte", "caché"),
]
NOUNS = [
    ("file", "Datei", "fichier"),
    ("folder", "Ordner", "dossier"),
    ("picture", "Bild", "image"),
    ("letter", "Brief", "lettre"),
    ("table", "Tabelle", "tableau"),
]
PHRASES = [
    (f"{v[0]} the {a[0]} {n[0]}", f"{v[1]} die {a[1]} {n[1]}", f"{v[2]} le {n[2]} {a[2]}")
    for v in VERBS
    for a in ADJECTIVES
    for n in NOUNS
]
OPTIONS = {
    "catalog_languages": ("de", "fr"),
    "mono_only": ("fr",),
    "dev_pairs": 5,
    "test_pairs": 10,
    "min_train_pairs": 20,
}


@pytest.fixture
def locale_dir(tmp_path) -> Path:
    root = tmp_path / "locale"
    write_catalog(root, "de", "app", {en: de for en, de, _ in PHRASES})
    write_catalog(root, "fr", "app", {en: fr for en, _, fr in PHRASES})
    return root


def test_catalog_corpus_is_built_once_and_rebuilt_when_a_catalog_changes(tmp_path, locale_dir, monkeypatch):
    """Built into cache/corpus-<key>, reused on the next call, a new key once a catalog changes."""
    options, cache = BuildOptions(locale_dir=locale_dir, **OPTIONS), tmp_path / "cache"
    first = inputs.catalog_corpus(options, cache, 20)
    assert first.parent == cache and re.fullmatch(r"corpus-[0-9a-f]{12}", first.name)
    languages = read_manifest(first)["languages"]  # every phrase survives cleaning; 15 go to dev and test
    assert languages["de"]["pairs"] == {"train": 135, "dev": 5, "test": 10}
    assert (languages["fr"]["mono"], languages["fr"]["pairs"]["train"], languages["fr"]["pairs"]["test"]) == (
        135,
        0,
        10,
    )

    def no_build(*args):
        raise AssertionError("built again")

    monkeypatch.setattr(inputs, "build_corpus", no_build)
    assert inputs.catalog_corpus(options, cache, 20) == first
    monkeypatch.undo()
    write_catalog(
        locale_dir,
        "de",
        "app",
        {**{en: de for en, de, _ in PHRASES}, "Rename the empty file": "Benenne die leere Datei um"},
    )
    second = inputs.catalog_corpus(options, cache, 20)
    assert second != first and second.parent == cache
    assert read_manifest(second)["languages"]["de"]["pairs"]["train"] == 136


def test_catalog_corpus_names_the_languages_with_too_few_sentences(tmp_path, locale_dir):
    """Languages below the minimum, or without held-out pairs, are named, with what to install."""
    options = BuildOptions(locale_dir=locale_dir, **OPTIONS)
    with pytest.raises(ErnieMError, match=r"\(de 135 training sentences and 10 held-out pairs, fr 135 .*needs 136"):
        inputs.catalog_corpus(options, tmp_path / "cache", 136)
    spanish = [
        "Abre el archivo nuevo",
        "Abre la carpeta nueva",
        "Abre la imagen nueva",
        "Abre la carta nueva",
        "Abre la tabla nueva",
        "Abre el archivo viejo",
        "Abre la carpeta vieja",
        "Abre la imagen vieja",
        "Abre la carta vieja",
        "Abre la tabla vieja",
    ]
    # Open the new file, ...
    write_catalog(
        locale_dir, "es", "app", {en: es for (en, *_), es in zip(PHRASES[: len(spanish)], spanish, strict=True)}
    )
    options = BuildOptions(locale_dir=locale_dir, **{**OPTIONS, "catalog_languages": ("de", "fr", "es")})
    with pytest.raises(
        ErnieMError, match=r"\(es \d+ training sentences and 0 held-out pairs; each language needs 20"
    ) as caught:
        inputs.catalog_corpus(options, tmp_path / "cache", 20)
    assert "language-pack" in str(caught.value)


def test_corpus_tokenizer_is_trained_once_per_corpus_and_settings(tmp_path, locale_dir, monkeypatch):
    """The same corpus and settings reuse the tokenizer; other settings train a new one."""
    cache = tmp_path / "cache"
    corpus = inputs.catalog_corpus(BuildOptions(locale_dir=locale_dir, **OPTIONS), cache, 20)
    first = inputs.corpus_tokenizer(corpus, TokenizerConfig(vocab_size=64), 0, cache)
    assert re.fullmatch(r"tokenizer-[0-9a-f]{12}", first.name) and (first / "tokenizer.json").is_file()
    trained = []
    monkeypatch.setattr(inputs, "train_tokenizer", lambda sample, path, *args: trained.append(path))
    assert inputs.corpus_tokenizer(corpus, TokenizerConfig(vocab_size=64), 0, cache) == first
    assert trained == []
    other = inputs.corpus_tokenizer(corpus, TokenizerConfig(vocab_size=60), 0, cache)
    assert trained == [other] and other != first


def test_arm_config_sets_objectives_and_seed_only():
    """Each arm keeps the stages' names and steps, gets exactly its objectives and the given seed."""
    config = config_from_dict(
        {
            "stages": [
                {"name": "first", "steps": 3, "objectives": {"tlm": 1}},
                {"name": "second", "steps": 5, "objectives": {"btmlm": 1}},
            ]
        }
    )
    for name, arm in ARMS.items():
        changed = arm_config(config, name, 7)
        assert [(s.name, s.steps) for s in changed.stages] == [("first", 3), ("second", 5)]
        assert [s.objectives for s in changed.stages] == [arm.first, arm.second]
        assert changed.stages[0].objectives is not arm.first  # a copy: the arm itself cannot be changed through it
        assert changed.train.seed == 7 and changed.train.lr == config.train.lr and changed.model == config.model


def test_arm_config_needs_two_stages():
    """The arms put BTMLM in a second stage: a one-stage config is refused."""
    config = config_from_dict({"stages": [{"name": "only", "steps": 3, "objectives": {"mmlm": 1}}]})
    with pytest.raises(ErnieMError, match="two stages"):
        arm_config(config, "full", 0)


class Unprepared:
    """Inputs that fail the test if the ablation prepares them."""

    config = load_config(None)

    def prepare(self):
        raise AssertionError("prepared")


def test_run_ablation_refuses_an_unknown_arm_before_building(tmp_path):
    """An unknown arm is named, and nothing is prepared or written."""
    with pytest.raises(ErnieMError, match="unknown or no arms.*nope"):
        run_ablation(Unprepared(), tmp_path / "out", ("full", "nope"), (0,), base_steps=1)
    assert not (tmp_path / "out").exists()


def test_demo_inputs_refuse_mono_only_languages_trained_with_pairs(tmp_path):
    """A --mono-only language that is also in data.languages is an error, raised before any build."""
    config = load_config(None, ["data.languages=[de, fr]"])
    demo_inputs = Inputs(config, mono_only=("it", "fr"), cache_dir=tmp_path / "cache", locale_dir=tmp_path / "nowhere")
    with pytest.raises(ErnieMError, match=r"--mono-only fr: also in data.languages"):
        demo_inputs.prepare()
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize("saved", ["same", "other", "broken"])
def test_an_earlier_run_is_reused_only_with_the_same_settings(saved, tmp_path):
    """Same settings and a result: its result comes back (to reuse the measures it holds). Other
    settings, or a run.yaml that cannot be read: started over."""
    settings = RunSettings(load_config(None), tmp_path / "corpus", None, tmp_path / "tokenizer")
    out = tmp_path / "run"
    out.mkdir()
    earlier = {"heldout": {"average": 1.0}, "measured_with": {"heldout": {}}}
    (out / "result.json").write_text(json.dumps(earlier))
    if saved == "broken":
        (out / "run.yaml").write_text("config: {model: {hidden_size: 12")
    else:
        settings.save(out / "run.yaml")
    changed = dataclasses.replace(settings, config=load_config(None, ["train.lr=0.5"]))
    resumed, result = scored._earlier(changed if saved == "other" else settings, out, tmp_path / "corpus")
    if saved == "same":
        assert (resumed, result) == (True, earlier)
    else:
        assert (resumed, result) == (False, None) and not out.exists()


def test_scoring_keys_name_what_each_measure_depends_on(tmp_path):
    """A measure's key changes with its own options only, so adding CoNLL keeps the XNLI results."""
    xnli = scored.Scoring(xnli=tmp_path / "xnli", xnli_languages=("de",))
    with_conll = dataclasses.replace(xnli, conll=tmp_path / "conll")
    assert set(xnli.keys()) == {"heldout", "xnli-retrieval"} and set(with_conll.keys()) == {
        "heldout",
        "xnli-retrieval",
        "conll",
    }
    assert (
        with_conll.keys()["xnli-retrieval"]
        == xnli.keys()["xnli-retrieval"]
        == {"data": str((tmp_path / "xnli").resolve()), "languages": ["de"], "split": "dev"}
    )
    faster = dataclasses.replace(with_conll, conll_finetune=dataclasses.replace(with_conll.conll_finetune, lr=1e-4))
    assert faster.keys()["conll"] != with_conll.keys()["conll"]


def test_a_corpus_rebuilt_in_place_is_another_corpus(tmp_path):
    """A user's corpus goes by its name and its manifest: rebuilt from other sources, its caches and
    results are new ones; a catalog corpus of the cache goes by its keyed name alone."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "manifest.json").write_text('{"options": {"debian_packages": []}}')
    before = scored.corpus_identity(corpus)
    (corpus / "manifest.json").write_text('{"options": {"debian_packages": ["libreoffice-help"]}}')
    assert scored.corpus_identity(corpus) != before and before.startswith("corpus-")
    assert scored.corpus_identity(tmp_path / "corpus-0123456789ab") == "corpus-0123456789ab"


def test_a_base_is_shared_by_configs_that_differ_only_where_mmlm_does_not_look(tmp_path):
    config = load_config("tiny")

    def base(train: dict | None = None, objectives: dict | None = None) -> Path:
        changed = dataclasses.replace(
            config,
            train=dataclasses.replace(config.train, **(train or {})),
            objectives=dataclasses.replace(config.objectives, **(objectives or {})),
        )
        return inputs.base_dir(
            inputs.base_config(changed, 0, 100), Path("corpus-0123456789ab"), Path("tokenizer-0"), tmp_path
        )

    assert base(train={"eval_every": 50, "report_to": ("tensorboard",)}) == base()  # watching a run
    assert base(objectives={"bt_decoding": "sample", "bt_temperature": 0.5}) == base()  # BTMLM's options
    assert base(train={"lr": 5e-4}) != base() and base(objectives={"mask_prob": 0.2}) != base()
