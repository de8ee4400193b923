"""PaddlePaddle `.pdparams` files read without PaddlePaddle and without running code from them.

`paddle.save(state_dict, path)` pickles a dict of parameter name -> numpy array, plus bookkeeping
entries (`StructuredToParameterName@@`: structured names -> parameter names; and, for arrays it
split into slices, `UnpackBigParamInfor@@`). Unpickling calls whatever globals a file names, so a
downloaded checkpoint is untrusted input: it is read with an unpickler that resolves only the
numpy functions that rebuild arrays and refuses every other global before anything runs.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from ernie_m.errors import ErnieMError, first_line

STRUCTURED_NAMES = "StructuredToParameterName@@"
SPLIT_ARRAYS = "UnpackBigParamInfor@@"
# The globals that pickled numpy arrays, scalars and ordered dicts need
# (numpy 1 and numpy 2 spell the module differently).
ALLOWED_GLOBALS = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("collections", "OrderedDict"),
    ("_codecs", "encode"),  # protocol 2 stores bytes as a str to encode: a pure function
}


class _ArraysOnly(pickle.Unpickler):
    """An unpickler that builds arrays and plain containers, nothing else."""

    def find_class(self, module: str, name: str):
        if (module, name) not in ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(
                f"it asks for {module}.{name}, which is neither an array nor a plain container"
            )
        return super().find_class(module, name)


def read_pdparams(path: Path) -> dict[str, np.ndarray]:
    """Parameter name -> array, with split arrays joined again and the bookkeeping entries dropped."""
    path = Path(path)
    if not path.is_file():
        raise ErnieMError(f"{path}: no such .pdparams file")
    try:
        with open(path, "rb") as stream:
            state = _ArraysOnly(stream).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as error:
        raise ErnieMError(
            f"{path}: refused or unreadable as a PaddlePaddle state dict ({first_line(error)}); nothing in it was run"
        ) from None
    if not isinstance(state, dict):
        raise ErnieMError(f"{path}: expected a dict of parameter name -> array, found {type(state).__name__}")
    state = dict(state)
    state.pop(STRUCTURED_NAMES, None)
    state = _join_split_arrays(state, state.pop(SPLIT_ARRAYS, {}), path)
    for name, value in state.items():
        if not isinstance(value, np.ndarray):
            raise ErnieMError(f"{path}: entry {name!r} is a {type(value).__name__}, not an array")
    return state


def _join_split_arrays(state: dict, split: dict, path: Path) -> dict:
    """Arrays that paddle.save cut into flat slices, put back together in their original shape."""
    for name, info in split.items():
        try:
            slices = [np.asarray(state.pop(part)).ravel() for part in info["slices"]]
            state[name] = np.concatenate(slices).reshape(info["OriginShape"])
        except (KeyError, TypeError, ValueError) as error:
            raise ErnieMError(f"{path}: split array {name!r} cannot be joined again ({first_line(error)})") from None
    return state
