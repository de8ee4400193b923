"""Results as files: `<task>.json`, `<task>.md` (per-language table) and `<task>.png` (bar chart),
and one summary table across the tasks found in a results directory."""

from __future__ import annotations

import json
from pathlib import Path

from ernie_m.files import write_atomically


def write_report(result: dict, out_dir: Path) -> list[Path]:
    """The three files of one task's result; each appears complete or not at all."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{result['task']}-{result['setting']}"
    files = [out_dir / f"{stem}.json", out_dir / f"{stem}.md", out_dir / f"{stem}.png"]
    write_atomically(files[0], lambda p: p.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8"))
    write_atomically(files[1], lambda p: p.write_text(language_table(result) + "\n", encoding="utf-8"))
    write_atomically(files[2], lambda p: bar_chart(result, p))
    return files


def language_table(result: dict) -> str:
    scores = result["scores"]
    header = "| model | " + " | ".join(scores) + " | avg |"
    rule = "|---" + "|---:" * (len(scores) + 1) + "|"
    row = f"| {Path(result['model']).name} | " + " | ".join(f"{v:.1f}" for v in scores.values()) + f" | {result['average']:.1f} |"
    return f"{result['task']} ({result['setting']}, {result['metric']})\n\n{header}\n{rule}\n{row}"


def bar_chart(result: dict, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scores = result["scores"]
    fig, ax = plt.subplots(figsize=(max(5, 0.5 * len(scores) + 1.5), 3.5), dpi=120)
    ax.bar(list(scores), list(scores.values()), color="tab:blue")
    ax.axhline(result["average"], color="tab:red", linestyle="--", label=f"average {result['average']:.1f}")
    ax.set_ylabel(result["metric"])
    ax.set_title(f"{result['task']} ({result['setting']}): {Path(result['model']).name}")
    ax.tick_params(axis="x", rotation=90 if len(scores) > 12 else 0)
    ax.legend()
    fig.tight_layout()
    fig.savefig(png, format="png")
    plt.close(fig)


def summary_table(results_dir: Path) -> str:
    """One row per result file: task, setting, metric, average (the paper's tables, condensed)."""
    rows = ["| model | task | setting | metric | languages | average |", "|---|---|---|---|---:|---:|"]
    for file in sorted(Path(results_dir).glob("*.json")):
        result = json.loads(file.read_text(encoding="utf-8"))
        rows.append(f"| {result['model']} | {result['task']} | {result['setting']} | {result['metric']} | {len(result['scores'])} | {result['average']:.1f} |")
    return "\n".join(rows)
