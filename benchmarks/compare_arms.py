"""Models of different ablation folders side by side, on their own measures or on another corpus's
held-out pairs. For one recipe with two BTMLM decodings (an option every arm of an ablation shares,
so each setting is its own `ernie-m ablation --set ...` folder):

    python benchmarks/compare_arms.py camlm='runs/long-study/mmlm-camlm/seed-*/result.json' \\
        argmax='runs/long-study/mmlm-camlm-btmlm/seed-*/result.json' \\
        sample='runs/long-study-sample/mmlm-camlm-btmlm/seed-*/result.json'

Each NAME=PATTERNS names a row: comma-separated glob patterns of scored runs' result.json (one a
seed; a base in the cache is runs/cache/base-<key>/result.json). Prints, for every measure all rows
were scored on, the ablation's tables: mean over seeds with the range, and each later row against
the first with the paired bootstrap's 95% interval (retrieval), or each language's F1 (CoNLL).

With `--heldout CORPUS` (a corpus from `ernie-m corpus build`, e.g. real prose the models never saw)
every model is scored on that corpus's held-out test pairs instead (kept beside its result.json as
heldout-<corpus identity>.json) and only that table is printed, its languages grouped as in the
models' training corpus. Compare rows with the same seeds, base
and budget: the script does not check."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ernie_m.evaluate.tasks import EvalSettings, run_task
from ernie_m.experiments.report import (
    GENERATOR_NOTE,
    MEASURE_TITLES,
    RETRIEVAL,
    ablation_table,
    comparison_table,
    downstream_table,
    generator_table,
)
from ernie_m.experiments.scored import corpus_identity
from ernie_m.files import write_atomically


def load(row: str) -> tuple[str, list[Path]]:
    name, _, patterns = row.partition("=")
    files = sorted(file for pattern in patterns.split(",") for file in Path().glob(pattern))
    if not name or not files:
        raise SystemExit(f"{row}: expected NAME=PATTERNS matching result.json files")
    return name, files


def scored_on(result_file: Path, corpus: Path) -> dict:
    """The run's result with "heldout" measured on `corpus` (scored once, then read back)."""
    result = json.loads(result_file.read_text(encoding="utf-8"))
    kept = result_file.parent / f"heldout-{corpus_identity(corpus)}.json"
    if not kept.is_file():
        measured = run_task(
            EvalSettings(task="heldout", model_dir=Path(result["model"]), data_dir=corpus, progress=False)
        )
        write_atomically(kept, lambda path: path.write_text(json.dumps(measured) + "\n", encoding="utf-8"))
    measured = json.loads(kept.read_text(encoding="utf-8"))
    # Languages are grouped as the models were trained: monolingual-only are those of the training corpus.
    measured["mono_only"] = [lang for lang in result["heldout"]["mono_only"] if lang in measured["sentences"]]
    return {**result, "heldout": measured}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rows", nargs="+", help="NAME=PATTERNS")
    parser.add_argument("--heldout", type=Path, help="score every model on this built corpus's test pairs")
    options = parser.parse_args()

    def read(file: Path) -> dict:
        return scored_on(file, options.heldout) if options.heldout else json.loads(file.read_text(encoding="utf-8"))

    rows = {name: [read(file) for file in files] for name, files in map(load, options.rows)}
    first, *others = rows
    print(f"seeds per row: { ({name: len(runs) for name, runs in rows.items()}) }")
    for measure, title in MEASURE_TITLES.items():
        if (options.heldout and measure != "heldout") or not all(
            measure in run for runs in rows.values() for run in runs
        ):
            continue
        print(f"\n## {f'Held-out pairs of {options.heldout}' if options.heldout else title}\n")
        if measure in RETRIEVAL:
            print(ablation_table(rows, measure) + "\n")
            print(comparison_table(rows, measure, [(other, first) for other in others]))
        else:
            print(downstream_table(rows, measure))
    generator = generator_table(rows)
    if generator and not options.heldout:
        print(f"\n## BTMLM's generator\n\n{GENERATOR_NOTE}\n\n{generator}")


if __name__ == "__main__":
    main()
