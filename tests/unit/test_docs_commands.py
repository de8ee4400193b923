"""Every `ernie-m` command in the README and docs/ parses: its subcommand and options exist and its
required options are given. (Running them is the job of the tests that cover each journey.)"""

from __future__ import annotations

import re
import shlex
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
    command_object.make_context(context.info_name, args, parent=context.parent)  # parses, checks required options; runs nothing
