"""``python -m actionrec.features.pose [CACHE_DIR]``: fill the pose model cache from PyPI."""

from __future__ import annotations

import sys

from actionrec.errors import ActionrecError
from actionrec.features.pose.assets import fetch_pose_models


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        paths = fetch_pose_models(args[0] if args else None)
    except ActionrecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"pose models ready in {paths.detector.parent}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
