"""`ernie-m corpus stats DIR`: a per-language table and a bar chart from a built corpus's manifest."""

from __future__ import annotations

from pathlib import Path

from ernie_m.data.build import read_manifest


def stats_rows(manifest: dict) -> list[dict]:
    """One row per language: pairs per split, monolingual lines, words, and removals per rule."""
    rows = []
    for lang, entry in manifest["languages"].items():
        rows.append(
            {
                "language": lang,
                **{f"{split} pairs": n for split, n in entry["pairs"].items()},
                "mono lines": entry["mono"],
                "words": entry["words"],
                "removed": sum(entry["removed"].values()),
                **entry["read"],
                **{f"removed: {rule}": n for rule, n in sorted(entry["removed"].items())},
            }
        )
    return rows


def markdown_table(rows: list[dict], columns: list[str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|---" + "|---:" * (len(columns) - 1) + "|"]
    for row in rows:
        cells = [row.get(c, 0) for c in columns]
        lines.append("| " + " | ".join(f"{c:,}" if isinstance(c, int) else str(c) for c in cells) + " |")
    return "\n".join(lines)


def corpus_report(path: Path) -> tuple[str, str]:
    """(languages table, cleaning table) of the corpus at `path`, as markdown."""
    rows = stats_rows(read_manifest(path))
    main = ["language", "train pairs", "dev pairs", "test pairs", "mono lines", "words", "removed"]
    rules = sorted({key for row in rows for key in row if key.startswith("removed: ")})
    read = [name for name in ("catalogs", "entries") if any(name in row for row in rows)]
    cleaning = markdown_table([r for r in rows if r["removed"]], ["language", *read, *rules])
    return markdown_table(rows, main), cleaning.replace("removed: ", "")


def bar_chart(path: Path, png: Path) -> Path:
    """Training pairs and monolingual lines per language, log scale, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = sorted(stats_rows(read_manifest(path)), key=lambda r: -(r["train pairs"] + r["mono lines"]))
    names = [r["language"] for r in rows]
    fig, ax = plt.subplots(figsize=(max(6, 0.22 * len(rows)), 4), dpi=120)
    positions = range(len(rows))
    ax.bar([p - 0.2 for p in positions], [r["train pairs"] for r in rows], width=0.4, label="training pairs")
    ax.bar([p + 0.2 for p in positions], [r["mono lines"] for r in rows], width=0.4, label="monolingual lines")
    ax.set_yscale("log")
    ax.set_xticks(list(positions), names, rotation=90, fontsize=7)
    ax.set_ylabel("count (log)")
    ax.set_title(f"{Path(path).name}: training text per language")
    ax.legend()
    fig.tight_layout()
    fig.savefig(png)
    plt.close(fig)
    return png
