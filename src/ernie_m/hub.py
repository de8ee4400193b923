"""Hugging Face hub ids (`FacebookAI/xlm-roberta-base`) resolved from the local cache, never downloaded."""

from __future__ import annotations

import os
from pathlib import Path

from ernie_m.errors import ErnieMError, first_line


def hub_cache() -> Path:
    """Where Hugging Face keeps downloaded models: HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    return Path(os.environ.get("HF_HOME") or Path.home() / ".cache" / "huggingface") / "hub"


def local_model(name: Path | str) -> Path:
    """`name` itself when it exists on disk; else the folder of hub id `name` in the local cache (offline);
    an error with the command that downloads it when it is in neither place."""
    path = Path(name)
    if path.exists() or len(path.parts) > 2 or path.is_absolute():
        return path
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

    try:
        return Path(snapshot_download(str(name), cache_dir=hub_cache(), local_files_only=True))
    except (LocalEntryNotFoundError, HFValidationError) as error:
        reason = "not in it" if isinstance(error, LocalEntryNotFoundError) else first_line(error)
        raise ErnieMError(
            f"{name}: not a folder, and not a model in the local Hugging Face cache {hub_cache()} ({reason}); "
            f"nothing is downloaded here: where there is a network, run `hf download {name}` "
            "and give its folder, or set HF_HOME to the cache that holds it"
        ) from None
