"""The `ernie-m` command. It only parses and dispatches; errors become one line and exit code 2."""

from __future__ import annotations

import logging
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer

from ernie_m.errors import ErnieMError

app = typer.Typer(help="ERNIE-M: pre-train cross-lingual encoders on XLM-R.", no_args_is_help=True, add_completion=False)


@app.callback()
def _root() -> None:
    """Keep `pretrain` a sub-command even while it is the only one."""


@app.command()
def pretrain(
    config: Annotated[Optional[Path], typer.Option(help="YAML config (configs/tiny.yaml, base.yaml, large.yaml).")] = None,
    corpus: Annotated[Optional[Path], typer.Option(help="Corpus directory: <lang>.txt and <a>-<b>.<a>/<a>-<b>.<b> files. Default: the system's translation catalogs.")] = None,
    out: Annotated[Path, typer.Option(help="Output directory (must be new or empty, unless --resume).")] = Path("runs/pretrain"),
    max_steps: Annotated[Optional[int], typer.Option(help="Squeeze the stage schedule into this many steps.")] = None,
    stop_at: Annotated[Optional[int], typer.Option(help="Checkpoint and stop after this step; the schedule is unchanged.")] = None,
    init_from: Annotated[Optional[Path], typer.Option(help="XLM-R / ERNIE-M model directory in Hugging Face format.")] = None,
    resume: Annotated[bool, typer.Option(help="Continue the run in --out from its last checkpoint, with its saved settings.")] = False,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Override a config value: section.key=value (repeatable).")] = None,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Pre-train with MMLM, TLM, CAMLM and BTMLM, stage by stage; export a Hugging Face model."""
    from ernie_m.config import load_config
    from ernie_m.train.run import RunSettings
    from ernie_m.train.run import pretrain as run_pretrain

    with _errors():
        settings = None
        if resume:
            if config or corpus or init_from or set_ or max_steps:
                raise ErnieMError("--resume continues with the run's saved settings (OUT/run.yaml); drop --config, --corpus, --init-from, --set, --max-steps")
        else:
            loaded = load_config(config, set_ or [])
            settings = RunSettings(loaded.with_total_steps(max_steps) if max_steps else loaded, corpus, init_from)
        model_dir = run_pretrain(settings, out, resume=resume, stop_at=stop_at, progress=progress)
        if model_dir is None:
            typer.echo(f"stopped at step {stop_at}; continue with: ernie-m pretrain --out {out} --resume")
        else:
            typer.echo(f"model saved to {model_dir} (transformers.AutoModel.from_pretrained loads it)")


@contextmanager
def _errors():
    """Turn ErnieMError into `error: ...` on stderr and exit status 2."""
    try:
        yield
    except ErnieMError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    app(prog_name="ernie-m")


if __name__ == "__main__":
    sys.exit(main())
