"""A model directory's config.json, read and checked in one place.

``load_model`` (Keras) and the live runtime (LiteRT, which never imports TensorFlow) both read the config
through ``read_model_config``, and both check it against the shapes of the model they load
(``check_model_shapes``): a config.json edited by hand (another kind, class count or window) or naming an
unknown kind is one clear line at load time instead of a traceback at the first prediction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from actionrec.errors import ActionrecError, from_os_error
from actionrec.features.mobilenet import EmbedderConfig
from actionrec.features.spec import FeatureSpec

MODEL_FILE, CONFIG_FILE, HISTORY_FILE = "model.keras", "config.json", "history.json"
BACKBONE_FILE = "backbone.keras"  # a fine-tuned model's own MobileNet (``train --finetune``)
KINDS = ("frame", "lstm")


@dataclass(frozen=True)
class ModelConfig:
    path: Path  # the config.json
    kind: str
    classes: list[str]
    window: int  # frames per window (1 for the frame model)
    embedder: EmbedderConfig
    features: FeatureSpec  # the per-frame features it was trained on (none recorded: MobileNet)
    raw: dict  # the whole config, as written by ``train`` (options, versions, export record)

    @property
    def outputs(self) -> int:
        """Columns of the Keras model's output: one sigmoid for two classes, else one per class."""
        return 1 if len(self.classes) == 2 else len(self.classes)


def read_model_config(directory: str | Path) -> ModelConfig:
    """Read and check ``DIRECTORY/config.json``; raise one ``ActionrecError`` naming the file if it is unusable."""
    directory = Path(directory)
    path = directory / CONFIG_FILE
    if not directory.exists():
        raise ActionrecError(f"{directory}: model directory does not exist")
    if not directory.is_dir():
        raise ActionrecError(f"{directory}: is a file, not a model directory; expected a folder written by `actionrec train`")
    if not path.is_file():
        raise ActionrecError(f"{directory}: model directory has no {CONFIG_FILE}; expected one written by `actionrec train`")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise from_os_error(exc, path, "cannot read the model config") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ActionrecError(f"{path}: not a valid model config (not JSON: {exc}); expected the config.json `actionrec train` writes") from None
    if not isinstance(raw, dict):
        raise ActionrecError(f"{path}: not a valid model config (a JSON {type(raw).__name__}); expected an object with kind, classes, embedder")
    missing = [key for key in ("kind", "classes", "embedder") if key not in raw]
    if missing:
        raise ActionrecError(f"{path}: not a valid model config, missing {', '.join(missing)}; expected kind, classes, embedder")
    kind, classes, window = raw["kind"], raw["classes"], raw.get("window", 1)
    if kind not in KINDS:
        raise ActionrecError(f"{path}: not a valid model config, kind {kind!r}; expected one of {', '.join(KINDS)}")
    if (not isinstance(classes, list) or len(classes) < 2 or not all(isinstance(c, str) and c for c in classes)
            or len(set(classes)) != len(classes)):
        raise ActionrecError(f"{path}: not a valid model config, classes {classes!r}; expected a list of at least 2 distinct names")
    if not isinstance(window, int) or isinstance(window, bool) or window < 1 or (kind == "frame" and window != 1):
        expected = "1 for a frame model" if kind == "frame" else "a whole number of frames >= 1"
        raise ActionrecError(f"{path}: not a valid model config, window {window!r}; expected {expected}")
    try:
        embedder = EmbedderConfig.from_dict(raw["embedder"])
    except (TypeError, KeyError, ValueError, AttributeError) as exc:
        raise ActionrecError(f"{path}: not a valid model config, embedder {raw['embedder']!r} ({exc!r})") from None
    try:
        features = FeatureSpec.from_dict(raw.get("features"))
    except ActionrecError as exc:
        raise ActionrecError(f"{path}: not a valid model config, {exc}") from None
    return ModelConfig(path, kind, list(classes), window, embedder, features, raw)


def check_model_shapes(config: ModelConfig, model: str | Path, input_shape: tuple | None, outputs: int) -> None:
    """Refuse a model whose shapes disagree with its config (one line naming both files).

    ``input_shape`` is the Keras model's, batch first (None: not checked here); ``outputs`` its last
    output dimension (an exported classifier gives one column per class, Keras one sigmoid for two).
    The features per frame are not compared: they follow the embedder, not anything a user edits.
    """
    fix = f"restore the {CONFIG_FILE} written with this model, or retrain"
    got = None if input_shape is None else tuple(input_shape)[1:]
    fits = got is None or (len(got) == 1 if config.kind == "frame" else len(got) == 2 and got[0] == config.window)
    if not fits:
        implied = ("a frame model (one embedding in)" if len(got) == 1 else
                   f"an lstm model with window {got[0]}" if len(got) == 2 else f"input {got}")
        said = f"kind {config.kind!r}" + (f", window {config.window}" if config.kind == "lstm" else "")
        raise ActionrecError(f"{config.path}: says {said}, but {model} is {implied}; {fix}")
    if outputs not in (config.outputs, len(config.classes)):
        raise ActionrecError(f"{config.path}: lists {len(config.classes)} classes, but {model} gives {outputs} "
                             f"output{'s' if outputs != 1 else ''}; {fix}")
