"""The mutation check (`make mutants`): realistic bugs in the objectives, masking, packing and the
model, applied one at a time to a copy of the sources; each must make the objective tests fail.

Prints one row per bug (caught by which test, or SURVIVED) and exits 1 if any survives. The copy
lives in a temporary folder put first on PYTHONPATH, so the working tree is never modified."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = [
    "tests/unit/test_leaks.py",
    "tests/unit/test_objectives.py",
    "tests/unit/test_packing.py",
    "tests/unit/test_model.py",
]


@dataclass(frozen=True)
class Mutant:
    name: str
    file: str  # under src/ernie_m/
    edits: tuple[tuple[str, str], ...]  # (text, its replacement), each text present exactly once


MUTANTS = [
    Mutant(
        "CAMLM: masked S sees masked T (the two-hop leak)",
        "objectives/camlm.py",
        (("[False, True, True, False],  # masked S", "[False, True, True, True],  # masked S"),),
    ),
    Mutant(
        "CAMLM: unmasked T sees the source sentence",
        "objectives/camlm.py",
        (("[False, False, True, False],  # unmasked T", "[True, False, True, False],  # unmasked T"),),
    ),
    Mutant(
        "CAMLM: masked S sees its own sentence",
        "objectives/camlm.py",
        (("[False, True, True, False],  # masked S", "[True, True, True, False],  # masked S"),),
    ),
    Mutant(
        "CAMLM: groups from visible <mask> tokens only (kept and random ones see their sentence)",
        "objectives/camlm.py",
        (
            (
                "[groups(s.segment, m) for s, m in zip(sequences, masked, strict=True)]",
                "[groups(s.segment, s.input_ids == ctx.specials.mask) for s in sequences]",
            ),
        ),
    ),
    Mutant(
        "model: the language embedding is dropped",
        "model.py",
        (("token_type_ids=language_ids", "token_type_ids=None"),),
    ),
    Mutant(
        "attention: packed sequences see each other",
        "objectives/batch.py",
        (("same = (self.sequence[b, q] == key_sequence) & (key_sequence >= 0)", "same = key_sequence >= 0"),),
    ),
    Mutant(
        "attention: a padding query sees nothing (empty rows)",
        "objectives/batch.py",
        (
            (
                "return (same & self.sees[self.group[b, q], self.group[b, k]]) | ((key_sequence < 0) & (q == k))",
                "return same & self.sees[self.group[b, q], self.group[b, k]]",
            ),
        ),
    ),
    Mutant(
        "model: the additive mask is inverted",
        "model.py",
        (("masked_fill(~allowed, MASKED)", "masked_fill(allowed, MASKED)"),),
    ),
    Mutant(
        "masking: labels taken after corruption",
        "objectives/masking.py",
        (
            ("    seq.labels[chosen] = seq.input_ids[chosen]\n", ""),
            (
                "    seq.input_ids[to_random] = specials.random_tokens(rng, len(to_random))\n",
                "    seq.input_ids[to_random] = specials.random_tokens(rng, len(to_random))\n"
                "    seq.labels[chosen] = seq.input_ids[chosen]\n",
            ),
        ),
    ),
    Mutant(
        "masking: special tokens can be selected",
        "objectives/masking.py",
        (
            (
                "np.flatnonzero(~seq.special if maskable is None else maskable & ~seq.special)",
                "np.flatnonzero(np.ones(len(seq), dtype=bool) if maskable is None else maskable)",
            ),
        ),
    ),
    Mutant(
        "masking: random replacements include special tokens",
        "objectives/layout.py",
        (("rng.integers(self.unk + 1, self.mask, size=n)", "rng.integers(0, self.vocab_size, size=n)"),),
    ),
    Mutant(
        "masking: nothing selected in a short sequence",
        "objectives/masking.py",
        (
            (
                "count = max(1, int(round(config.mask_prob * len(candidates))))",
                "count = int(config.mask_prob * len(candidates))",
            ),
        ),
    ),
    Mutant(
        "TLM: only the first sentence is masked",
        "objectives/tlm.py",
        (
            (
                "mask_tokens(seq, ctx.config, ctx.specials, rng)",
                "mask_tokens(seq, ctx.config, ctx.specials, rng, maskable=seq.segment == 0)",
            ),
        ),
    ),
    Mutant(
        "BTMLM: the pseudo translation is masked and predicted too",
        "objectives/btmlm.py",
        (("maskable=seq.segment == SOURCE", "maskable=None"),),
    ),
    Mutant(
        "BTMLM: generation may emit special tokens",
        "objectives/btmlm.py",
        (('    logits[:, list(ctx.specials.special)] = float("-inf")\n', ""),),
    ),
    Mutant(
        "BTMLM: the source attends the placeholders while generating",
        "objectives/btmlm.py",
        (("[True, False],  # source: the source only", "[True, True],  # source: the source only"),),
    ),
    Mutant(
        "BTMLM: the target language may be the source's",
        "objectives/btmlm.py",
        (("others = [lang for lang in candidates if lang != source]", "others = list(candidates)"),),
    ),
    Mutant(
        'pairs: positions continue after the source under "restart"',
        "objectives/layout.py",
        (('    if positions == "continuous":\n', "    if True:\n"),),
    ),
    Mutant(
        "pairs: a pair can exceed the length budget",
        "objectives/layout.py",
        (("if len(a) + len(b) <= budget:", "if len(a) + len(b) <= budget + 2:"),),
    ),
    Mutant(
        "packing: sequences overlap in a row",
        "objectives/batch.py",
        (("used[row] += lengths[i]", "used[row] += lengths[i] - 1"),),
    ),
    Mutant(
        "packing: predictions handed back in row order, not sequence order",
        "objectives/batch.py",
        (("for row, offset, n in batch.placement:", "for row, offset, n in sorted(batch.placement):"),),
    ),
]


def apply(source_root: Path, mutant: Mutant) -> None:
    path = source_root / "ernie_m" / mutant.file
    text = path.read_text(encoding="utf-8")
    for old, new in mutant.edits:
        if text.count(old) != 1:
            raise SystemExit(
                f"mutant {mutant.name!r}: {old!r} occurs {text.count(old)} times in {mutant.file}; update the list"
            )
        text = text.replace(old, new)
    path.write_text(text, encoding="utf-8")


def run_tests(source_root: Path) -> tuple[bool, str]:
    """(some test failed, the first failing test's name)."""
    environment = {**os.environ, "PYTHONPATH": str(source_root), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *TESTS],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
    )
    failed = re.search(r"^FAILED (\S+)", result.stdout, re.MULTILINE)
    return result.returncode != 0, failed.group(1).split("::", 1)[-1] if failed else result.stdout.strip().splitlines()[
        -1
    ]


def main() -> int:
    with tempfile.TemporaryDirectory() as scratch:
        clean = Path(scratch) / "clean"
        shutil.copytree(ROOT / "src", clean)
        caught, message = run_tests(clean)
        if caught:
            raise SystemExit(f"the tests fail without any mutant ({message}); fix them first")
        print("| bug | caught by |\n|---|---|")
        survivors = 0
        for mutant in MUTANTS:
            mutated = Path(scratch) / "mutant"
            shutil.rmtree(mutated, ignore_errors=True)
            shutil.copytree(ROOT / "src", mutated)
            apply(mutated, mutant)
            start = time.perf_counter()
            caught, test = run_tests(mutated)
            survivors += not caught
            print(
                f"| {mutant.name} | {test if caught else 'SURVIVED'} ({time.perf_counter() - start:.0f} s) |",
                flush=True,
            )
    print(f"\n{len(MUTANTS) - survivors} of {len(MUTANTS)} bugs caught")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
