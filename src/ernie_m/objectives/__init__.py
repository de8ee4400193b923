"""The four ERNIE-M objectives, one module each. Each module has `DATA` ("mono" or "pairs": which
examples it takes) and `build_batch(examples, ctx, rng) -> Batch`."""

from ernie_m.objectives import btmlm, camlm, mmlm, tlm

OBJECTIVES = {"mmlm": mmlm, "tlm": tlm, "camlm": camlm, "btmlm": btmlm}
