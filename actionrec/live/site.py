"""The files the server serves: a built-in page of ``web/``, or the user's MK.js checkout with its page made playable (``mkjs``)."""

from __future__ import annotations

import mimetypes
from pathlib import Path
from urllib.parse import unquote, urlsplit

from actionrec.errors import ActionrecError
from actionrec.live.mkjs import BRIDGE_TAG, find_index, serve_index

WEB_DIR = Path(__file__).parents[1] / "web"
ASSETS = "/actionrec/"  # our files, under a prefix that cannot clash with the game's
SOCKET_PATH = "/ws"
__all__ = ["ASSETS", "BRIDGE_TAG", "SOCKET_PATH", "WEB_DIR", "Site"]


class Site:
    """The files behind the server: a built-in page of ``web/`` (the practice page unless ``page`` names
    another, e.g. ``record.html``), or an MK.js checkout (its root or its ``game/`` folder), whose
    ``index.html`` is served rewritten by ``mkjs.serve_index`` (``panel``: with the readouts beside the game)."""

    def __init__(self, game_dir: str | Path | None = None, page: str = "practice.html", panel: bool = True) -> None:
        self.game_dir = None
        if game_dir is not None:
            index = find_index(game_dir)
            self.game_dir = index.parent.resolve()
            self._index = serve_index(_read_text(index), index, panel=panel)
        else:
            self._index = (WEB_DIR / page).read_text(encoding="utf-8")

    def get(self, path: str) -> tuple[bytes, str] | None:
        """(body, content type) for a URL path, or None if there is no such file."""
        path = unquote(urlsplit(path).path)
        if path in ("/", "/index.html"):
            return self._index.encode("utf-8"), "text/html; charset=utf-8"
        if path.startswith(ASSETS):
            return _read_inside(WEB_DIR, path[len(ASSETS):])
        if self.game_dir is not None:
            return _read_inside(self.game_dir, path.lstrip("/"))
        return None


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ActionrecError(f"{path}: cannot read it as UTF-8 text ({exc})") from None


def _read_inside(root: Path, rel: str) -> tuple[bytes, str] | None:
    target = (root / rel).resolve()
    if not target.is_relative_to(root.resolve()) or not target.is_file():
        return None  # also refuses ../ escapes
    kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    if kind.startswith("text/") or kind in ("application/javascript", "application/json"):
        kind += "; charset=utf-8"
    return target.read_bytes(), kind


