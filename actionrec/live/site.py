"""The files the server serves: a built-in page of ``web/``, or the user's MK.js ``game/`` folder with the bridge injected."""

from __future__ import annotations

import mimetypes
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

from actionrec.errors import ActionrecError

WEB_DIR = Path(__file__).parents[1] / "web"
ASSETS = "/actionrec/"  # our files, under a prefix that cannot clash with the game's
SOCKET_PATH = "/ws"
BRIDGE_TAG = '<script src="/actionrec/bridge.js"></script>'
class Site:
    """The files behind the server: a built-in page of ``web/`` (the practice page unless ``page`` names
    another, e.g. ``record.html``), or a MK.js ``game/`` folder with the bridge injected."""

    def __init__(self, game_dir: str | Path | None = None, page: str = "practice.html") -> None:
        self.game_dir = Path(game_dir).resolve() if game_dir is not None else None
        if self.game_dir is not None:
            index = self.game_dir / "index.html"
            if not index.is_file():
                raise ActionrecError(f"{game_dir}: no index.html; expected the game/ folder of an MK.js checkout")
            self._index = inject_bridge(index.read_text(encoding="utf-8"), index)
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


def inject_bridge(html: str, where: Path | str = "index.html") -> str:
    """Select MK.js's ``webcaminput`` game type and load ``bridge.js`` at the end of the body."""
    html, n = re.subn(r"gameType\s*:\s*(['\"])[^'\"]*\1", "gameType: 'webcaminput'", html)
    if n == 0:
        raise ActionrecError(f"{where}: found no `gameType: '...'` option to switch to 'webcaminput'; is it MK.js?")
    close = html.lower().rfind("</body>")
    return html[:close] + BRIDGE_TAG + "\n" + html[close:] if close >= 0 else html + BRIDGE_TAG


def _read_inside(root: Path, rel: str) -> tuple[bytes, str] | None:
    target = (root / rel).resolve()
    if not target.is_relative_to(root.resolve()) or not target.is_file():
        return None  # also refuses ../ escapes
    kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    if kind.startswith("text/") or kind in ("application/javascript", "application/json"):
        kind += "; charset=utf-8"
    return target.read_bytes(), kind


