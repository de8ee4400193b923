"""Tables and plots of alignment: per language for one run (the demo), per arm across seeds (the
ablation), for each measure a run was scored on, and the loss of each objective over a run's steps.

A run's result (ernie_m.experiments.scored) holds one task result per measure; the functions on
languages and groups take one such task result."""

from __future__ import annotations

import itertools
import json
import statistics
from pathlib import Path

from ernie_m.evaluate.report import OVERLAP_LABEL
from ernie_m.objectives.btmlm import FREQUENT_PIECES, WATCHED_PER_LANGUAGE

GROUPS = ("parallel", "monolingual-only")
DIRECTIONS = ("{}->en", "en->{}")  # retrieval X->en and en->X, formatted with the language
MEASURE_TITLES = {
    "heldout": "Held-out pairs of the corpus",
    "xnli-retrieval": "Real sentences: XNLI's translated sentences",
    "tatoeba": "Real sentences: Tatoeba",
    "conll": "Downstream: CoNLL NER, fine-tuned on English, zero-shot on the others",
}
RETRIEVAL = ("heldout", "xnli-retrieval", "tatoeba")
MEASURE_NOTES = {
    "heldout": "Retrieval accuracy (%) on each language's held-out test pairs (software strings, never trained on), "
    "mean of X->en and en->X over each group's languages.",
    "xnli-retrieval": "Retrieval accuracy (%) among XNLI's distinct premises and hypotheses (translations of the same "
    "sentences in every language; 3,320 a language on dev), mean of X->en and en->X over each group's languages.",
    "tatoeba": "Retrieval accuracy (%) on Tatoeba's 1,000 sentence pairs a language, mean of X->en and en->X.",
    "conll": "Entity F1 (seqeval) on each language's test file after fine-tuning on English only (the paper's "
    "cross-lingual transfer); transfer = mean of de, es, nl.",
}
OVERLAP = f"{OVERLAP_LABEL}, no model"
UNTRAINED = "random initialisation (no pre-training)"
BASE = "base: MMLM only (where the recipe and the arms start)"
GIVEN = "the --init-from model (where the arms start)"


def measures(runs: list[dict]) -> list[str]:
    """The measures that every run's result holds, in the order of MEASURE_TITLES."""
    return [name for name in MEASURE_TITLES if all(name in run for run in runs)]


def overlap_floor(measured: dict) -> dict:
    """A task result's token-overlap floor in the shape of a task result, for the same tables."""
    return {**measured, "scores": measured["overlap_floor"]}


def languages_by_group(result: dict) -> dict[str, list[str]]:
    """The languages of a `heldout` result: those trained with pairs, and the monolingual-only ones."""
    languages = [key.split("->")[0] for key in result["scores"] if not key.startswith("en->")]
    return {
        "parallel": [lang for lang in languages if lang not in result["mono_only"]],
        "monolingual-only": [lang for lang in languages if lang in result["mono_only"]],
    }


def group_averages(result: dict, directions: tuple[str, ...] = DIRECTIONS) -> dict[str, float]:
    """Mean retrieval accuracy over each group's languages and the given directions, for the groups that have
    languages."""
    return {
        group: statistics.fmean(
            result["scores"][direction.format(lang)] for lang in languages for direction in directions
        )
        for group, languages in languages_by_group(result).items()
        if languages
    }


def alignment_table(result: dict, before: dict | None = None) -> str:
    """Markdown: one row per language with X->en and en->X (and, given `before`, the scores of the
    model it started from), then each group's averages."""
    runs = [result] if before is None else [result, before]
    header = "| language | trained with | X->en | en->X |" + (" X->en before | en->X before |" if before else "")
    lines = [header, "|---|---|" + "---:|" * 2 * len(runs)]
    for group, languages in languages_by_group(result).items():
        trained_with = "pairs" if group == "parallel" else "monolingual text only"
        for lang in languages:
            cells = [f"{run['scores'][d.format(lang)]:.1f}" for run in runs for d in DIRECTIONS]
            lines.append(f"| {lang} | {trained_with} | " + " | ".join(cells) + " |")
    for group in group_averages(result):
        cells = [f"{group_averages(run, (d,))[group]:.1f}" for run in runs for d in DIRECTIONS]
        lines.append(f"| **average** | {group} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def ablation_table(results: dict[str, list[dict]], measure: str) -> str:
    """Markdown: one row per arm, each group's mean over seeds with its range (on `measure`), and the
    trainer's tokens/s; last, the token-overlap floor of the same pairs."""
    lines = [
        "| model | seeds | parallel languages | monolingual-only languages | tokens/s |",
        "|---|---:|---:|---:|---:|",
    ]
    for arm, runs in results.items():
        cells = []
        for values in _group_values([run[measure] for run in runs]).values():
            cells.append(_mean_and_range(values))
        speeds = [run["training"]["tokens_per_s"] for run in runs if run["training"]["tokens_per_s"] is not None]
        speed = f"{statistics.fmean(speeds):,.0f}" if speeds else "-"
        lines.append(f"| {arm} | {len(runs)} | {cells[0]} | {cells[1]} | {speed} |")
    floor = group_averages(overlap_floor(next(iter(results.values()))[0][measure]))
    lines.append(
        f"| {OVERLAP} | - | " + " | ".join(f"{floor[g]:.1f}" if g in floor else "-" for g in GROUPS) + " | - |"
    )
    return "\n".join(lines)


def downstream_table(results: dict[str, list[dict]], measure: str) -> str:
    """Markdown: one row per arm, each language's score and the mean of the non-English ones (the
    transfer), mean over seeds with its range; languages whose fine-tuning collapsed are counted."""
    first = next(iter(results.values()))[0][measure]
    languages = list(first["scores"])
    others = [lang for lang in languages if lang != "en"]
    titles = [f"{lang} (monolingual-only)" if lang in first["mono_only"] else lang for lang in languages]
    lines = [
        "| model | seeds | " + " | ".join(titles) + " | transfer | collapsed |",
        "|---|---:|" + "---:|" * (len(languages) + 2),
    ]
    for arm, runs in results.items():
        measured = [run[measure] for run in runs]
        cells = [_mean_and_range([m["scores"][lang] for m in measured]) for lang in languages]
        transfer = _mean_and_range([statistics.fmean(m["scores"][lang] for lang in others) for m in measured])
        collapsed = sum(len(m.get("collapsed", {})) for m in measured)
        lines.append(f"| {arm} | {len(runs)} | " + " | ".join(cells) + f" | {transfer} | {collapsed} |")
    return "\n".join(lines)


def comparison_table(results: dict[str, list[dict]], measure: str, comparisons: list[tuple[str, str]]) -> str:
    """Markdown: for each (arm, other arm) present in `results`, the difference in retrieval accuracy
    (points) per group of languages with its 95% interval from a paired bootstrap over sentence pairs
    (a pair's two directions resampled together), each outcome averaged over the seeds."""
    from ernie_m.evaluate.metrics import paired_bootstrap

    lines = [
        "| comparison | " + " | ".join(f"{group} languages: difference (95% interval)" for group in GROUPS) + " |",
        "|---|" + "---:|" * len(GROUPS),
    ]
    for arm, other in comparisons:
        if arm not in results or other not in results:
            continue
        cells = []
        for group in GROUPS:
            a, b = _sentence_outcomes(results[arm], measure, group), _sentence_outcomes(results[other], measure, group)
            if a is None or b is None:
                cells.append("-")
                continue
            difference, low, high = paired_bootstrap(a, b)
            cells.append(f"{100 * difference:+.1f} ({100 * low:+.1f} to {100 * high:+.1f})")
        lines.append(f"| {arm} vs {other} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _sentence_outcomes(runs: list[dict], measure: str, group: str):
    """(N,) for each sentence pair of the group's languages, its hit rate over both directions and the
    runs (seeds); None when the group has no languages or the runs no recorded hits."""
    import numpy as np

    measured = [run[measure] for run in runs]
    languages = languages_by_group(measured[0])[group]
    if not languages or any("hits" not in result for result in measured):
        return None

    def hits(result: dict, key: str) -> np.ndarray:
        return np.array([bit == "1" for bit in result["hits"][key]], dtype=np.float64)

    per_pair = [
        np.concatenate([(hits(result, f"{lang}->en") + hits(result, f"en->{lang}")) / 2 for lang in languages])
        for result in measured
    ]
    return np.mean(per_pair, axis=0)


def _mean_and_range(values: list[float]) -> str:
    """ "mean (lowest-highest)" over seeds; the value alone for one seed; "-" for none."""
    if len(values) == 1:
        return f"{values[0]:.1f}"
    return f"{statistics.fmean(values):.1f} ({min(values):.1f}-{max(values):.1f})" if values else "-"


GENERATOR_LABELS = {
    "bt/copied": "pieces copied from the source (%)",
    "bt/frequent": f"pieces among the {FREQUENT_PIECES} most frequent (%)",
    "bt/overlap_f1": "piece-overlap F1 with the reference (%)",
}
GENERATOR_NOTE = (
    f"BTMLM's step 1 run on {WATCHED_PER_LANGUAGE} held-out dev pairs a language (X -> en) at every logged step, "
    "decoded as training decodes it; last logged values. A generator that copies its source or emits the most "
    "frequent pieces gives step 2 nothing to translate from."
)


def loss_chart(log_file: Path, png: Path) -> None:
    """Each objective's loss over the steps of a run, with the stage boundaries marked."""
    _log_chart(log_file, png, "loss/", "loss", "pre-training loss per objective")


def generator_chart(log_file: Path, png: Path) -> None:
    """BTMLM's generator on held-out pairs (X -> en) at every logged step: copies, frequent pieces, overlap F1."""
    _log_chart(log_file, png, "bt/", "% of generated pieces / F1", "BTMLM's pseudo translations of held-out sentences")


def _log_chart(log_file: Path, png: Path, prefix: str, ylabel: str, title: str) -> None:
    """The logged values whose keys start with `prefix` over the steps, with the stage boundaries marked."""
    lines = [json.loads(line) for line in Path(log_file).read_text(encoding="utf-8").splitlines()]
    logged = [line for line in lines if "tokens_per_s" in line]
    plt, fig, ax = _figure(6, 3.5)
    for key in sorted({key for line in logged for key in line if key.startswith(prefix)}):
        points = [(line["step"], line[key]) for line in logged if key in line]
        ax.plot(*zip(*points, strict=True), label=GENERATOR_LABELS.get(key, key.removeprefix(prefix)))
    for before, after in itertools.pairwise(logged):
        if before["stage"] != after["stage"]:
            ax.axvline(before["step"], color="grey", linestyle=":")
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=7)
    _save(plt, fig, png)


def generator_table(results: dict[str, list[dict]]) -> str:
    """Markdown: the last logged generator figures of each arm that watched it, mean over seeds."""
    lines = ["| model | " + " | ".join(GENERATOR_LABELS.values()) + " |", "|---|" + "---:|" * len(GENERATOR_LABELS)]
    for arm, runs in results.items():
        watched = [run["training"].get("generator") for run in runs if run["training"].get("generator")]
        if watched:
            lines.append(
                f"| {arm} | "
                + " | ".join(_mean_and_range([g[key] for g in watched]) for key in GENERATOR_LABELS)
                + " |"
            )
    return "\n".join(lines) if len(lines) > 2 else ""


def alignment_chart(result: dict, png: Path, before: dict | None = None) -> None:
    """Bars of X->en and en->X per language, the monolingual-only languages on the right; given
    `before`, the scores of the model it started from as black ticks."""
    groups = languages_by_group(result)
    languages = groups["parallel"] + groups["monolingual-only"]
    plt, fig, ax = _figure(max(5, 0.6 * len(languages) + 2), 3.5)
    for offset, direction in zip((-0.2, 0.2), DIRECTIONS, strict=True):
        positions = [i + offset for i in range(len(languages))]
        ax.bar(
            positions,
            [result["scores"][direction.format(lang)] for lang in languages],
            width=0.4,
            label=direction.format("X"),
        )
        if before is not None:
            label = "before (the model it started from)" if offset > 0 else None
            ax.scatter(
                positions,
                [before["scores"][direction.format(lang)] for lang in languages],
                marker="_",
                s=200,
                color="black",
                label=label,
            )
    if groups["monolingual-only"]:
        ax.axvspan(
            len(groups["parallel"]) - 0.5, len(languages) - 0.5, color="grey", alpha=0.15, label="monolingual-only"
        )
    ax.set_xticks(range(len(languages)), languages)
    ax.set_ylabel("retrieval accuracy (%)")
    ax.set_title("alignment on the corpus's held-out pairs")
    ax.legend()
    _save(plt, fig, png)


def ablation_chart(results: dict[str, list[dict]], png: Path) -> None:
    """A panel per measure: per arm, each group's mean over seeds with the seeds' range as the error
    bar, and the token-overlap floor as a dashed line per group."""
    arms = list(results)
    shown = [
        measure for measure in measures([run for runs in results.values() for run in runs]) if measure in RETRIEVAL
    ]
    plt, fig, axes = _figure(max(6, 1.3 * len(arms) + 2), 4 * len(shown), rows=len(shown))
    for ax, measure in zip(axes, shown, strict=True):
        values = {arm: _group_values([run[measure] for run in runs]) for arm, runs in results.items()}
        floor = group_averages(overlap_floor(results[arms[0]][0][measure]))
        for (offset, group), color in zip(
            zip((-0.2, 0.2), GROUPS, strict=True), ("tab:blue", "tab:orange"), strict=True
        ):
            per_arm = [values[arm][group] for arm in arms]
            means = [
                statistics.fmean(v) if v else float("nan") for v in per_arm
            ]  # no bar for a group without languages
            errors = [
                [m - min(v, default=m) for m, v in zip(means, per_arm, strict=True)],
                [max(v, default=m) - m for m, v in zip(means, per_arm, strict=True)],
            ]
            ax.bar(
                [i + offset for i in range(len(arms))],
                means,
                width=0.4,
                yerr=errors,
                capsize=3,
                color=color,
                label=f"{group} languages",
            )
            if group in floor:
                ax.axhline(floor[group], color=color, linestyle="--", linewidth=1, label=f"{OVERLAP}, {group}")
        ax.set_xticks(range(len(arms)), arms, rotation=20, ha="right")
        ax.set_ylabel("retrieval accuracy (%)")
        ax.set_title(f"{MEASURE_TITLES[measure]}: mean of X->en and en->X (error bars: seed range)", fontsize=9)
        ax.legend(fontsize=7)
    _save(plt, fig, png)


def _group_values(measured: list[dict]) -> dict[str, list[float]]:
    """Each group's average in every task result (one a seed) that has the group's languages."""
    averages = [group_averages(result) for result in measured]
    return {group: [a[group] for a in averages if group in a] for group in GROUPS}


def _figure(width: float, height: float, rows: int | None = None):
    """(pyplot, figure, one axes), or with `rows` a list of that many axes stacked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(rows or 1, 1, figsize=(width, height), dpi=120, squeeze=rows is None)
    return plt, fig, ax if rows is None else list(ax[:, 0])


def _save(plt, fig, png: Path) -> None:
    fig.tight_layout()
    fig.savefig(png, format="png")
    plt.close(fig)
