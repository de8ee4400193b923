"""Reading PaddlePaddle state dicts: arrays come back, split arrays are joined, code is never run."""

from __future__ import annotations

import os
import pickle
from collections import OrderedDict

import numpy as np
import pytest

from ernie_m.convert.pdparams import SPLIT_ARRAYS, STRUCTURED_NAMES, read_pdparams
from ernie_m.errors import ErnieMError


def write(path, obj, protocol=4):
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    return path


@pytest.mark.parametrize("protocol", [2, 4])
def test_arrays_come_back_and_bookkeeping_is_dropped(protocol, tmp_path):
    weight = np.arange(6, dtype=np.float32).reshape(2, 3)
    state = OrderedDict(
        [
            ("encoder.weight", weight),
            ("encoder.step", np.array(7, dtype=np.int64)),
            (STRUCTURED_NAMES, {"encoder.weight": "linear_0.w_0"}),
        ]
    )
    read = read_pdparams(write(tmp_path / "m.pdparams", state, protocol))
    assert list(read) == ["encoder.weight", "encoder.step"]
    assert read["encoder.weight"].dtype == np.float32 and np.array_equal(read["encoder.weight"], weight)


def test_split_arrays_are_joined_in_their_shape(tmp_path):
    big = np.arange(12, dtype=np.float32).reshape(3, 4)
    state = {
        "big@@.0": big.ravel()[:5],
        "big@@.1": big.ravel()[5:],
        "small": np.ones(2, dtype=np.float32),
        SPLIT_ARRAYS: {"big": {"OriginShape": (3, 4), "slices": ["big@@.0", "big@@.1"]}},
    }
    read = read_pdparams(write(tmp_path / "m.pdparams", state))
    assert sorted(read) == ["big", "small"] and np.array_equal(read["big"], big)


class Planted:
    """Unpickling this runs a shell command: what a malicious checkpoint would do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_pickle_that_would_run_code_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "ran"
    path = write(tmp_path / "evil.pdparams", {"weight": np.zeros(2), "payload": Planted(marker)})
    with pytest.raises(ErnieMError, match=r"evil\.pdparams: refused.*system.*nothing in it was run"):
        read_pdparams(path)
    assert not marker.exists()


def test_bad_files_are_named(tmp_path):
    with pytest.raises(ErnieMError, match="no such"):
        read_pdparams(tmp_path / "missing.pdparams")
    truncated = tmp_path / "cut.pdparams"
    truncated.write_bytes(pickle.dumps({"w": np.zeros(100)})[:50])
    with pytest.raises(ErnieMError, match="cut.pdparams"):
        read_pdparams(truncated)
    with pytest.raises(ErnieMError, match="expected a dict"):
        read_pdparams(write(tmp_path / "list.pdparams", [np.zeros(2)]))
    with pytest.raises(ErnieMError, match="'note' is a str"):
        read_pdparams(write(tmp_path / "str.pdparams", {"w": np.zeros(2), "note": "hello"}))
    with pytest.raises(ErnieMError, match="split array 'big'"):
        read_pdparams(
            write(tmp_path / "split.pdparams", {SPLIT_ARRAYS: {"big": {"OriginShape": (2, 2), "slices": ["gone"]}}})
        )
