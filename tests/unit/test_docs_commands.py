"""Every `ernie-m` command in the README and docs/ parses: its subcommand and options exist and its
required options are given; the blocks marked runnable are run by `make docs-check` (tests/docs_check.py)."""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest
import typer

from ernie_m.cli import app

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def documented_commands() -> list[tuple[str, str]]:
    """(where, command line) for each `ernie-m ...` or `-m ernie_m ...` line of a fenced bash block."""
    found = []
    for document in DOCUMENTS:
        text = document.read_text(encoding="utf-8")
        for block in re.findall(r"```bash\n(.*?)```", text, flags=re.DOTALL):
            joined = re.sub(r"\\\n\s*", " ", block)
            for line in joined.splitlines():
                command = line.split(" #")[0].strip()
                match = re.search(r"(?:^|\s)(?:ernie-m|-m ernie_m)\s+(.*)$", command)
                if match and not command.startswith("#"):
                    found.append((document.name, match.group(1)))
    return found


COMMANDS = documented_commands()


def test_the_docs_have_commands_to_check():
    assert len(COMMANDS) > 30


@pytest.mark.parametrize(("where", "command"), COMMANDS, ids=[f"{where}:{command[:40]}" for where, command in COMMANDS])
def test_a_documented_command_parses(where, command):
    args = [arg for arg in shlex.split(command) if arg not in ("-h", "--help", "--version")]
    command_object = typer.main.get_command(app)
    context = command_object.context_class(command_object, info_name="ernie-m")
    while hasattr(command_object, "resolve_command"):  # a group: find the subcommand
        name, command_object, args = command_object.resolve_command(context, args)
        context = command_object.context_class(command_object, info_name=name, parent=context)
    # parses, checks required options; runs nothing
    command_object.make_context(context.info_name, args, parent=context.parent)


def load_docs_check():
    spec = importlib.util.spec_from_file_location("docs_check", ROOT / "tests" / "docs_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_docs_mark_blocks_to_run_and_every_mark_sits_on_a_bash_fence():
    blocks = load_docs_check().runnable_blocks()
    assert {where.split(":")[0] for where, _ in blocks} >= {"README.md", "docs/evaluation.md"}
    assert all("ernie-m" in script for _, script in blocks)


@pytest.mark.parametrize(
    ("command", "appended"),
    [
        ("pretrain --config c --out o", "--max-steps 20"),
        ("pretrain --out o --resume", ""),
        ("ablation --corpus c", "--max-steps 20 --seeds 0 --base-steps 20"),
        ("ablation --init-from m --corpus c", "--max-steps 20 --seeds 0"),
        ("evaluate xnli --model m", ""),
    ],
)
def test_the_docs_check_gives_training_commands_a_small_budget_and_nothing_else(command, appended, tmp_path):
    fake = tmp_path / "ernie-m"
    fake.write_text('#!/bin/sh\necho "$@"\n')
    fake.chmod(0o755)
    done = subprocess.run(
        ["bash", "-c", load_docs_check().PREAMBLE + f"ernie-m {command}\n"],
        capture_output=True,
        text=True,
        env={"PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"},
        check=True,
    )
    assert done.stdout.split() == f"{command} {appended}".split()
