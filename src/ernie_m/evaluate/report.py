"""Results as files: `<task>-<setting>.json`, `.md` (per-language table) and `.png` (bar chart), one
model's to a directory, and one summary table across the tasks and models of several directories."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from ernie_m.card import RUN_SUMMARY, run_card
from ernie_m.errors import ErnieMError, first_line
from ernie_m.files import write_atomically


def model_label(model_dir: str) -> str:
    """A short name for a model directory: runs/base/model reads as "base"."""
    path = Path(model_dir)
    return path.parent.name if path.name == "model" and path.parent.name else path.name


def check_result_slot(out_dir: Path, task: str, setting: str, model_dir: str | Path) -> None:
    """Refuse an `out_dir` whose result for this task and setting is another model's: results are
    named by task and setting, so one directory holds one model's (re-running the same model replaces it)."""
    path = Path(out_dir) / f"{task}-{setting}.json"
    if not path.is_file():
        return
    try:
        other = json.loads(path.read_text(encoding="utf-8")).get("model")
    except (UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        return  # not a result of ours: replacing it is what was asked
    if isinstance(other, str) and other and Path(other).resolve() != Path(model_dir).resolve():
        raise ErnieMError(
            f"{path} holds the result of another model ({other}); give {model_dir} its own --out "
            f"(then `ernie-m report DIR1 DIR2` compares them)"
        )


def write_report(result: dict, out_dir: Path) -> list[Path]:
    """The three files of one task's result; each appears complete or not at all."""
    check_result_slot(out_dir, result["task"], result["setting"], result["model"])
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{result['task']}-{result['setting']}"
    files = [out_dir / f"{stem}.json", out_dir / f"{stem}.md", out_dir / f"{stem}.png"]
    write_atomically(files[0], lambda p: p.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8"))
    write_atomically(files[1], lambda p: p.write_text(language_table(result) + "\n", encoding="utf-8"))
    write_atomically(files[2], lambda p: bar_chart(result, p))
    return files


OVERLAP_LABEL = "token overlap (TF-IDF)"


def language_table(result: dict) -> str:
    """Markdown: the model's score per language and its average; for retrieval, a second row with the
    same pairs retrieved by token overlap alone (the floor the model is read against)."""
    scores = result["scores"]
    header = "| model | " + " | ".join(scores) + " | avg |"
    rule = "|---" + "|---:" * (len(scores) + 1) + "|"
    rows = [_row(model_label(result["model"]), scores)]
    if "overlap_floor" in result:
        rows.append(_row(OVERLAP_LABEL, result["overlap_floor"]))
    table = f"{result['task']} ({result['setting']}, {result['metric']})\n\n{header}\n{rule}\n" + "\n".join(rows)
    if result.get("collapsed"):
        named = ", ".join(f"{lang} (every prediction {label!r})" for lang, label in result["collapsed"].items())
        table += (
            f"\n\nThe fine-tuning collapsed to one class for {named}: "
            "those scores describe the fine-tuning, not the model."
        )
    return table


def _row(label: str, scores: dict[str, float]) -> str:
    average = sum(scores.values()) / len(scores)
    return f"| {label} | " + " | ".join(f"{v:.1f}" for v in scores.values()) + f" | {average:.1f} |"


def bar_chart(result: dict, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scores = result["scores"]
    fig, ax = plt.subplots(figsize=(max(5, 0.5 * len(scores) + 1.5), 3.5), dpi=120)
    ax.bar(list(scores), list(scores.values()), color="tab:blue")
    ax.axhline(result["average"], color="tab:red", linestyle="--", label=f"average {result['average']:.1f}")
    if "overlap_floor" in result:
        ax.scatter(
            list(scores),
            [result["overlap_floor"][key] for key in scores],
            marker="_",
            s=200,
            color="black",
            label=OVERLAP_LABEL,
        )
    ax.set_ylabel(result["metric"])
    ax.set_title(f"{result['task']} ({result['setting']}): {model_label(result['model'])}")
    ax.tick_params(axis="x", rotation=90 if len(scores) > 12 else 0)
    ax.legend()
    fig.tight_layout()
    fig.savefig(png, format="png")
    plt.close(fig)


RESULT_KEYS = ("task", "setting", "metric", "model", "scores", "average")


def read_results(results_dir: Path) -> list[dict]:
    """The task results in a results directory (its `*.json` files, by name); any other JSON is an error naming it."""
    results = []
    for path in sorted(Path(results_dir).glob("*.json")):
        try:
            result = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ErnieMError(f"{path}: not valid JSON ({first_line(error)})") from None
        if not isinstance(result, dict) or not all(key in result for key in RESULT_KEYS):
            raise ErnieMError(f"{path}: not an evaluation result (expected the keys {', '.join(RESULT_KEYS)})")
        results.append(result)
    return results


def summary_table(results: list[dict]) -> str:
    """The paper's layout: per task and setting, one row per model with every language and the average;
    then an overview row per model with each task's average."""
    label = _labels([r["model"] for r in results])
    sections = []
    for task, setting in dict.fromkeys((r["task"], r["setting"]) for r in results):
        group = [r for r in results if (r["task"], r["setting"]) == (task, setting)]
        columns = list(dict.fromkeys(lang for r in group for lang in r["scores"]))
        lines = [
            f"{task} ({setting}, {group[0]['metric']})",
            "",
            "| model | " + " | ".join(columns) + " | avg |",
            "|---" + "|---:" * (len(columns) + 1) + "|",
        ]
        for r in group:
            cells = [f"{r['scores'][c]:.1f}" if c in r["scores"] else "-" for c in columns]
            lines.append(f"| {label[r['model']]} | " + " | ".join(cells) + f" | {r['average']:.1f} |")
        sections.append("\n".join(lines))
    tasks = list(dict.fromkeys(f"{r['task']} ({r['setting']})" for r in results))
    overview = ["| model | " + " | ".join(tasks) + " |", "|---" + "|---:" * len(tasks) + "|"]
    for model in dict.fromkeys(r["model"] for r in results):
        averages = {f"{r['task']} ({r['setting']})": r["average"] for r in results if r["model"] == model}
        overview.append(
            f"| {label[model]} | " + " | ".join(f"{averages[t]:.1f}" if t in averages else "-" for t in tasks) + " |"
        )
    return "\n\n".join(["\n".join(overview), *sections])


def _labels(models: list[str]) -> dict[str, str]:
    """Each model's short label (`model_label`), or its whole path where two models would share one."""
    short = {model: model_label(model) for model in models}
    uses = Counter(short.values())
    return {model: model if uses[name] > 1 else name for model, name in short.items()}


NO_PROVENANCE = "no provenance (written by an earlier version)"


def partial_measure(result: dict) -> str | None:
    """Why `result` is not a full test-set measure (a dev split, a fine-tuning subsample, no provenance); None if it
    is."""
    from ernie_m.evaluate.tasks import TASKS

    made = result.get("provenance")
    if made is None:
        return NO_PROVENANCE
    task = TASKS.get(result["task"])
    if made["test_split"] != "test" and not (task and task.any_split_is_full):
        return f"scored on the {made['test_split']} split"
    if made["fine_tuning"] and made["fine_tuning"]["subsample"]:
        return f"fine-tuned on a subsample of {made['fine_tuning']['subsample']:,} examples"
    return None


def measured_on(result: dict) -> str:
    """One line: the result's split, examples per language, fine-tuning (or pooled layer) and software."""
    made = result.get("provenance")
    name = f"{result['task']} ({result['setting']})"
    if made is None:
        return f"{name}: {NO_PROVENANCE}"
    counts = sorted(set(made["examples"].values()))
    examples = f"{counts[0]:,}" if len(counts) == 1 else f"{counts[0]:,}-{counts[-1]:,}"
    tuning = made["fine_tuning"]
    how = (
        (
            f"fine-tuned on {tuning['examples']:,} {tuning['train_split']} examples ({tuning['epochs']} epochs, lr "
            f"{tuning['lr']:g}, "
            f"layer decay {tuning['layer_decay']:g}, seed {tuning['seed']})"
        )
        if tuning
        else "no fine-tuning"
    )
    software = made["software"]
    commit = f" at {software['commit'][:12]}" if software.get("commit") else ""
    return (
        f"{name}: {made['test_split']} split, {examples} examples a language, up to {made['max_length']} tokens; "
        f"{how}; "
        f"{software['ernie_m']}{commit}, torch {software['torch']}, transformers {software['transformers']}, "
        f"{software['date'][:10]}"
    )


def add_results(model_dir: Path, results_dirs: list[Path], allow_partial: bool = False) -> Path:
    """Rewrite a pre-training export's card with the evaluation results found in `results_dirs`; results
    scored on a dev split, fine-tuned on a subsample or without provenance only with `allow_partial`."""
    results = []
    for folder in map(Path, results_dirs):
        found = read_results(folder)
        if not found:
            raise ErnieMError(f"{folder}: no evaluation results (<task>-<setting>.json from ernie-m evaluate)")
        results += found
    return write_results(model_dir, results, allow_partial)


def write_results(model_dir: Path, results: list[dict], allow_partial: bool = False) -> Path:
    """The card of the pre-training export `model_dir`, written again with `results` (ernie_m.evaluate task results)."""
    model_dir = Path(model_dir)
    summary_file = model_dir / RUN_SUMMARY
    if not summary_file.is_file():
        raise ErnieMError(
            f"{model_dir}: no {RUN_SUMMARY}; cards with results are made for models that `ernie-m pretrain` exported"
        )
    others = sorted({result["model"] for result in results if Path(result["model"]).resolve() != model_dir.resolve()})
    if others:
        raise ErnieMError(
            f"{model_dir}: some results are of other models ({', '.join(others)}); give only this model's"
        )
    partial = [
        f"{result['task']} ({result['setting']}): {why}" for result in results if (why := partial_measure(result))
    ]
    if partial and not allow_partial:
        raise ErnieMError(
            f"not full test-set results: {'; '.join(partial)}; pass --allow-partial to put them in the card, "
            "which then says what each one is"
        )
    try:
        summary = json.loads(summary_file.read_text(encoding="utf-8"))
        measured = "\n".join(f"- {measured_on(result)}" for result in results)
        card = run_card(summary, f"{summary_table(results)}\n\nWhat each result was measured on:\n\n{measured}")
    except (ValueError, KeyError, TypeError) as error:
        raise ErnieMError(
            f"{summary_file}: unreadable or incomplete ({first_line(error)}); export the model again"
        ) from None
    write_atomically(model_dir / "README.md", lambda path: path.write_text(card, encoding="utf-8"))
    return model_dir / "README.md"
