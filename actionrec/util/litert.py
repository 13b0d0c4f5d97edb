"""A LiteRT interpreter, ready to run: the one place the product makes them (pose models, exported models)."""

from __future__ import annotations

from pathlib import Path

from actionrec.chatter import quiet_runtime


def interpreter(source: bytes | str | Path, num_threads: int, input_shape: tuple[int, ...] | None = None):
    """An allocated ``ai_edge_litert`` Interpreter of a model file or its bytes; ``input_shape`` resizes
    the first input first (a batch size). Errors are LiteRT's (ValueError, RuntimeError): callers name the file."""
    from ai_edge_litert.interpreter import Interpreter

    where = {"model_content": source} if isinstance(source, bytes) else {"model_path": str(source)}
    it = Interpreter(**where, num_threads=num_threads)
    if input_shape is not None:
        it.resize_tensor_input(it.get_input_details()[0]["index"], input_shape, strict=False)
    with quiet_runtime():  # its XNNPACK line
        it.allocate_tensors()
    return it
