"""One LiteRT interpreter for a pose model, its outputs found by shape (their names are Identity_N).

LiteRT applies its XNNPACK CPU delegate by default; one thread by default because the live loop runs
MobileNet and the LSTM beside it on the same cores.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from actionrec.errors import ActionrecError
from actionrec.util.litert import interpreter


class LiteModel:
    """``path`` names the model (in messages); ``content``, when given, is the model itself (e.g. pruned)."""

    def __init__(self, path: str | Path, num_threads: int = 1, content: bytes | None = None):
        if num_threads < 1:
            raise ActionrecError(f"num_threads {num_threads}: expected >= 1")
        try:
            self._it = interpreter(content if content is not None else path, num_threads)
        except (ValueError, RuntimeError) as exc:
            raise ActionrecError(f"cannot load the TFLite model {path}: {exc}") from None
        self.path = Path(path)
        inp = self._it.get_input_details()[0]
        self._input = inp["index"]
        self.input_shape = tuple(int(d) for d in inp["shape"])
        self._outputs = {tuple(int(d) for d in o["shape"]): o["index"] for o in self._it.get_output_details()}

    def run(self, x: np.ndarray) -> None:
        self._it.set_tensor(self._input, x)
        self._it.invoke()

    def output(self, shape: tuple[int, ...]) -> np.ndarray:
        """The output tensor of this shape from the last ``run`` (a copy)."""
        try:
            index = self._outputs[shape]
        except KeyError:
            raise ActionrecError(f"{self.path} has no output of shape {shape} "
                                 f"(has {sorted(self._outputs)}): not the expected BlazePose model") from None
        return self._it.get_tensor(index)

    def require(self, input_shape: tuple[int, ...], *outputs: tuple[int, ...]) -> None:
        """Refuse a file that is a valid model but not the one this code decodes."""
        if self.input_shape != input_shape:
            raise ActionrecError(f"{self.path} takes input {self.input_shape}, expected {input_shape}")
        for shape in outputs:
            if shape not in self._outputs:
                raise ActionrecError(f"{self.path} has no output of shape {shape}")
