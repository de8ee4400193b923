"""The ERNIE-M objectives, one module each, registered by name in OBJECTIVES (see `registry`).

Each module builds its batches and ends with its `OBJECTIVE`; the order here is the order in which
model cards and reports list them.
"""

from ernie_m.objectives import btmlm, camlm, mmlm, tlm
from ernie_m.objectives.registry import OBJECTIVES, Objective, register

for _module in (mmlm, tlm, camlm, btmlm):
    register(_module.OBJECTIVE)

__all__ = ["OBJECTIVES", "Objective", "register"]
