"""The docs check (`make docs-check`): runs every fenced bash block of README.md and docs/*.md that
is marked runnable (a `<!-- docs-check -->` line right above its fence), as written, in one scratch
folder, in document order (README first), so that later blocks find what earlier ones made.

The folder holds small stand-ins for what the docs assume a user has: `my-files/` (a de-en corpus
with Swahili monolingual text), `xlm-roberta-base/` (a tiny XLM-R-architecture model), `data/<task>/`
(each benchmark's files under their official names, a few lines of made-up text), `sentences.txt`,
and `configs/` (the bundled configs). Commands that train run with a small budget: the `ernie-m`
seen by the blocks appends `--max-steps 20` to pretrain and ablation (and to the ablation one seed
and a 20-step base). Unmarked blocks need what a CPU here has not: several GPUs, a SLURM
cluster, released weights, or hours.

Prints one row per block and exits 1 if any fails (its output is shown)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
MARK = "<!-- docs-check -->"
# The `ernie-m` a block sees: the installed one, where a command trains, with a small budget appended
# (none to --resume, which keeps its run's settings; no base's steps where --init-from is the base).
PREAMBLE = """set -euo pipefail
ernie-m() {
  local budget=()
  case " $* " in *" --resume "*) ;; *)
    case "$1" in
      pretrain) budget=(--max-steps 20) ;;
      ablation) budget=(--max-steps 20 --seeds 0)
                case " $* " in *" --init-from "*) ;; *) budget+=(--base-steps 20) ;; esac ;;
    esac ;;
  esac
  command ernie-m "$@" "${budget[@]}"
}
"""
SMALL_MODEL = """
model: {hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 64}
tokenizer: {vocab_size: 500}
data: {max_length: 64}
stages: [{name: base, steps: 10, objectives: {mmlm: 1}}]
train: {batch_size: 8, log_every: 1, checkpoint_every: 10}
"""
ALPHABETS = {
    "en": "etaoinshrdlcumwfgypbvk",
    "de": "enisratdhulcgmobwfkzäöüß",
    "es": "eaosrnidlctumpbgvyqhfzjñ",
    "fr": "esaitnrulodcpmévqfbghjàxèy",
    "nl": "enatiordslgvhkmubpwjzcf",
    "sw": "aiuenkmwltshyzgbdrfpj",
    "ru": "оеаинтсрвлкмдпуяыьгзбчйхжшюцщэфъё",
    "zh": "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年",
    "ja": "のにはをたがでてとしれさいかなもる",
    "ko": "이다는의에가을를고한하지서로",
    "ar": "ايلمنوهرتبعدسفكقجحشصطزخضثذغظ",
    "hi": "कखगघचछजझटठडढणतथदधनपफबभमयरलवशसह",
    "vi": "aăâeêioôơuưyđbcdghklmnpqrstvx",
    "bg": "оеаинтсрвлкмдпуяъьгзбчйхжшюцщф",
    "el": "αβγδεζηθικλμνξοπρστυφχψω",
    "th": "กขคงจฉชซญดตถทธนบปผพฟภมยรลวศษสหอฮ",
    "tr": "aeıinrlkdmyustobüşzgçhğvcöpfj",
    "ur": "ابپتٹثجچحخدڈذرڑزژسشصضطظعغفقکگلمنوہھءیے",
}
XNLI = ("ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh")
PAWSX = ("de", "en", "es", "fr", "ja", "ko", "zh")
MLQA = ("ar", "de", "en", "es", "hi", "vi", "zh")
CONLL = {"en": "eng", "de": "deu", "es": "esp", "nl": "ned"}
TATOEBA = {"de": "deu", "fr": "fra", "ru": "rus", "zh": "cmn"}
BUCC = ("de", "fr", "ru", "zh")


def runnable_blocks() -> list[tuple[str, str]]:
    """(document:line, script) for each fenced bash block marked runnable."""
    blocks = []
    for document in DOCUMENTS:
        lines = document.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines):
            if line.strip() == MARK:
                if number + 1 >= len(lines) or lines[number + 1].strip() != "```bash":
                    raise SystemExit(f"{document.name}:{number + 1}: {MARK} must sit right above a ```bash fence")
                end = lines.index("```", number + 2)
                blocks.append((f"{document.relative_to(ROOT)}:{number + 2}", "\n".join(lines[number + 2 : end]) + "\n"))
    return blocks


class Words:
    """Made-up sentences: seeded words over each language's own letters."""

    def __init__(self, seed: int = 0):
        self.rng = np.random.default_rng(seed)

    def sentence(self, lang: str, words: tuple[int, int] = (4, 12)) -> str:
        letters = ALPHABETS[lang]
        count = int(self.rng.integers(*words))
        made = [
            "".join(self.rng.choice(list(letters), size=int(self.rng.integers(1 if lang in ("zh", "ja") else 2, 9))))
            for _ in range(count)
        ]
        return ("" if lang in ("zh", "ja") else " ").join(made).capitalize() + "."

    def lines(self, lang: str, count: int) -> list[str]:
        return [self.sentence(lang) for _ in range(count)]


def write(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_stand_ins(folder: Path) -> None:
    """Everything the runnable blocks take as given (see the module's docstring)."""
    words = Words()
    pairs = [(words.sentence("de"), words.sentence("en")) for _ in range(3000)]
    write(folder / "my-files/de-en.de", [de for de, _ in pairs])
    write(folder / "my-files/de-en.en", [en for _, en in pairs])
    write(folder / "my-files/sw.txt", words.lines("sw", 1500))
    write(folder / "sentences.txt", words.lines("en", 5))
    data = folder / "data"
    labels = ("entailment", "neutral", "contradiction")
    for lang in XNLI:
        for split in ("dev", "test"):
            write(
                data / f"xnli/{split}-{lang}.tsv",
                [f"{words.sentence(lang)}\t{words.sentence(lang)}\t{labels[i % 3]}" for i in range(12)],
            )
    write(
        data / "xnli/train-en.tsv",
        [f"{words.sentence('en')}\t{words.sentence('en')}\t{labels[i % 3]}" for i in range(48)],
    )
    for lang in PAWSX:
        for split in ("train", "dev", "test"):
            write(
                data / f"pawsx/{split}-{lang}.tsv",
                [f"{words.sentence(lang)}\t{words.sentence(lang)}\t{i % 2}" for i in range(24)],
            )
    write_squad(data / "mlqa/train-v1.1.json", words, "en", 24)
    for lang in MLQA:
        for split in ("dev", "test"):
            write_squad(data / f"mlqa/{split}-context-{lang}-question-{lang}.json", words, lang, 8)
    tags = ("O", "O", "O", "B-PER", "I-PER", "B-LOC", "B-ORG", "B-MISC")
    for lang, prefix in CONLL.items():
        for split in ("train", "testa", "testb"):
            rows = [
                line
                for _ in range(24)
                for line in [
                    *(f"{word} {tags[int(words.rng.integers(len(tags)))]}" for word in words.sentence(lang).split()),
                    "",
                ]
            ]
            write(data / f"conll/{prefix}.{split}", rows)
    for lang, iso3 in TATOEBA.items():
        write(data / f"tatoeba/tatoeba.{iso3}-eng.{iso3}", words.lines(lang, 20))
        write(data / f"tatoeba/tatoeba.{iso3}-eng.eng", words.lines("en", 20))
    for lang in BUCC:
        for split in ("sample", "training"):
            write(
                data / f"bucc/{lang}-en.{split}.{lang}",
                [f"{lang}-{i:06d}\t{words.sentence(lang)}" for i in range(1, 21)],
            )
            write(data / f"bucc/{lang}-en.{split}.en", [f"en-{i:06d}\t{words.sentence('en')}" for i in range(1, 31)])
            write(data / f"bucc/{lang}-en.{split}.gold", [f"{lang}-{i:06d}\ten-{i:06d}" for i in range(1, 6)])
    (folder / "configs").symlink_to(ROOT / "configs")


def write_squad(path: Path, words: Words, lang: str, questions: int) -> None:
    """A SQuAD v1.1 / MLQA file: each question's answer is the context's second word."""
    paragraphs = []
    for number in range(questions):
        context = words.sentence(lang, (8, 20))
        answer = context.split()[1] if lang not in ("zh", "ja") else context[2:5]
        paragraphs.append(
            {
                "context": context,
                "qas": [
                    {
                        "id": f"{lang}-{number}",
                        "question": words.sentence(lang),
                        "answers": [{"text": answer, "answer_start": context.index(answer)}],
                    }
                ],
            }
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps({"version": "1.1", "data": [{"title": "stand-in", "paragraphs": paragraphs}]}), encoding="utf-8"
    )


def make_model(folder: Path, environment: dict) -> None:
    """`xlm-roberta-base/`: a tiny XLM-R-architecture model (trained a few steps on the stand-in corpus),
    and its results in `results/xlmr/` to compare with."""
    (folder / "small.yaml").write_text(SMALL_MODEL, encoding="utf-8")
    steps = [
        ["corpus", "build", "--out", "standin/corpus", "--user", "my-files/"],
        ["pretrain", "--config", "small.yaml", "--corpus", "standin/corpus", "--out", "standin/run", "--no-progress"],
        [
            "evaluate",
            "xnli-retrieval",
            "--model",
            "standin/run/model",
            "--data",
            "data/xnli",
            "--test-split",
            "dev",
            "--out",
            "results/xlmr",
            "--no-progress",
        ],
    ]
    for arguments in steps:
        done = subprocess.run(
            [shutil.which("ernie-m", path=environment["PATH"]), *arguments],
            cwd=folder,
            env=environment,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise SystemExit(
                f"docs check: making the stand-ins failed: ernie-m {' '.join(arguments)}\n{done.stderr[-3000:]}"
            )
    shutil.copytree(folder / "standin/run/model", folder / "xlm-roberta-base")


def main() -> int:
    blocks = runnable_blocks()
    environment = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2"),
    }
    with tempfile.TemporaryDirectory(prefix="ernie-m-docs-") as scratch:
        folder = Path(scratch)
        write_stand_ins(folder)
        make_model(folder, environment)
        failed = 0
        print(f"{'block':<28} {'commands':>8} {'seconds':>8}  result")
        for where, script in blocks:
            start = time.perf_counter()
            done = subprocess.run(
                ["bash", "-c", PREAMBLE + script], cwd=folder, env=environment, capture_output=True, text=True
            )
            commands = len(
                [
                    line
                    for line in re.sub(r"\\\n", " ", script).splitlines()
                    if line.strip() and not line.startswith("#")
                ]
            )
            print(
                f"{where:<28} {commands:>8} {time.perf_counter() - start:>8.0f}  "
                f"{'ok' if done.returncode == 0 else 'FAILED'}",
                flush=True,
            )
            if done.returncode != 0:
                failed += 1
                print(done.stdout[-3000:] + done.stderr[-3000:])
    print(f"{len(blocks) - failed} of {len(blocks)} runnable blocks ran" + (f"; {failed} failed" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
