"""A ``.keras`` file whose bytes follow from the model alone: the same seed gives the same file in any process.

Keras' own ``model.save`` writes three things that change from run to run even when every weight is equal
(measured on two demo runs of the same seed, in different processes, keras 3.15.1: ``model.weights.h5``
identical, the file not):
  - ``shared_object_id`` in config.json, the Python ``id()`` of each layer setting shared between layers
    (an address in that process's memory); loading only matches equal ids, so numbering them in order of
    first appearance loads the same model;
  - ``date_saved`` in metadata.json (the model directory's config.json keeps when it was made);
  - the zip timestamp of ``model.weights.h5``.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

from actionrec.util.atomic import atomic_path

ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can hold; Keras gives its JSON entries this too


def save_keras(model, path: str | os.PathLike) -> Path:
    """``model.save(path)``, then rewritten in canonical form (``canonical_keras``)."""
    path = Path(path)
    model.save(path)
    canonical_keras(path)
    return path


def canonical_keras(path: Path) -> None:
    """Rewrite the .keras zip at ``path`` with shared-object ids numbered 0, 1, ... in order, no save date and
    fixed entry times; entry names, order, compression and every other byte of content are kept."""
    with zipfile.ZipFile(path) as archive:
        entries = [(info, archive.read(info.filename)) for info in archive.infolist()]
    ids: dict[int, int] = {}
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w") as out:
        for info, data in entries:
            if info.filename == "config.json":
                data = json.dumps(_renumber(json.loads(data), ids)).encode()
            elif info.filename == "metadata.json":
                meta = json.loads(data)
                meta.pop("date_saved", None)
                data = json.dumps(meta).encode()
            fixed = zipfile.ZipInfo(info.filename, date_time=ZIP_EPOCH)
            fixed.compress_type, fixed.external_attr = info.compress_type, info.external_attr
            out.writestr(fixed, data)


def _renumber(node, ids: dict[int, int]):
    if isinstance(node, dict):
        return {k: ids.setdefault(v, len(ids)) if k == "shared_object_id" else _renumber(v, ids) for k, v in node.items()}
    if isinstance(node, list):
        return [_renumber(v, ids) for v in node]
    return node
