"""The custom Keras layer of the LSTM: registered, so that safe mode loads saved models.

Importing this module imports Keras; ``models`` imports it only when it builds or loads a model, which
keeps TensorFlow out of the import time of everything else (the LiteRT live path never needs it).
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="actionrec")
class FrameDeltas(keras.layers.Layer):
    """[e_t, e_t - e_(t-1)] per frame (0 for the first): motion, with the person's look cancelled out."""

    def call(self, x):
        prev = ops.concatenate([x[:, :1], x[:, :-1]], axis=1)
        return ops.concatenate([x, x - prev], axis=-1)

    def compute_output_shape(self, shape):
        return (*shape[:-1], 2 * shape[-1])
