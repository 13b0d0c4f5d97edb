"""MK.js as the user checked it out, made playable in memory: the served ``index.html`` is rewritten, the files are not.

Upstream MK.js (github.com/mgechev/mk.js) starts a network game: two ``prompt()`` questions and a
socket.io script from a server we do not run; its ``webcaminput`` type needs a 2013 getUserMedia camera
reader, and it defines no ``window.Detect``. ``serve_index`` therefore:

- drops the socket.io script tag (the network game is not played),
- loads ``/actionrec/mkjs.js`` as the page's first script: it answers the prompts with '' until the game
  starts, switches the game type to ``basic`` (no server, no camera), defines ``window.Detect`` with the
  2018 article's meaning when the page has none, plays game moves on fighter 0, keeps the fighters within
  reach, and tells the bridge when the game is ready,
- loads the readouts panel and ``/actionrec/bridge.js`` at the end of the body.

Pages that are not MK.js's ``game/index.html`` are refused with one line saying what was looked for.
"""

from __future__ import annotations

import re
from pathlib import Path

from actionrec.errors import ActionrecError

ADAPTER_TAG = '<script src="/actionrec/mkjs.js"></script>'
PANEL_TAGS = '<link rel="stylesheet" href="/actionrec/panel.css">\n<script src="/actionrec/panel.js"></script>'
BRIDGE_TAG = '<script src="/actionrec/bridge.js"></script>'

# Fighter 0's moves in MK.js (the keys of mk.moves.types), for --hook CLASS=MOVE.
MOVES = (
    "STAND", "WALK", "WALK_BACKWARD", "SQUAT", "STAND_UP", "HIGH_KICK", "JUMP", "FORWARD_JUMP", "BACKWARD_JUMP",
    "LOW_KICK", "LOW_PUNCH", "HIGH_PUNCH", "FALL", "WIN", "ENDURE", "SQUAT_ENDURE", "UPPERCUT", "SQUAT_LOW_KICK",
    "SQUAT_HIGH_KICK", "SQUAT_LOW_PUNCH", "KNOCK_DOWN", "ATTRACTIVE_STAND_UP", "SPIN_KICK", "BLOCK",
    "FORWARD_JUMP_KICK", "BACKWARD_JUMP_KICK", "BACKWARD_JUMP_PUNCH", "FORWARD_JUMP_PUNCH",
)
# Fine classes as visibly different moves. A page without a game (the practice page), or a coarse-only
# model, falls back to the article's three hooks (server.DEFAULT_HOOKS).
DEFAULT_MOVES = {
    "punch/jab": "LOW_PUNCH",
    "punch/cross": "HIGH_PUNCH",
    "kick/front": "LOW_KICK",
    "kick/roundhouse": "SPIN_KICK",
    "kick/back": "HIGH_KICK",
    "other/walk": "WALK",
}
HOOK_NAME = re.compile(r"on[A-Z][A-Za-z0-9]*")

_MK_SCRIPT = re.compile(r"""<script\b[^>]*\bsrc\s*=\s*["']?[^"'\s>]*\bmk\.js\b""", re.I)
_MK_START = re.compile(r"\bmk\s*\.\s*start\s*\(")
_SOCKET_IO = re.compile(r"""<script\b[^>]*\bsrc\s*=\s*["']?[^"'\s>]*socket\.io[^>]*>\s*</script\s*>""", re.I)
_HEAD = re.compile(r"<head\b[^>]*>", re.I)
_FIRST_SCRIPT = re.compile(r"<script\b", re.I)


def find_index(game_dir: str | Path) -> Path:
    """MK.js's ``game/index.html`` under ``game_dir``: the repository root or its ``game/`` folder."""
    root = Path(game_dir)
    if not root.is_dir():
        raise ActionrecError(f"{game_dir}: no such folder; expected an MK.js checkout or its game/ folder")
    for index in (root / "index.html", root / "game" / "index.html"):
        if index.is_file():
            return index
    raise ActionrecError(f"{game_dir}: no index.html nor game/index.html; expected an MK.js checkout "
                         "(git clone https://github.com/mgechev/mk.js) or its game/ folder")


def serve_index(html: str, where: Path | str = "index.html", panel: bool = True) -> str:
    """The page as served: MK.js's ``index.html`` with the adapter first and the bridge (and panel) last."""
    missing = [what for what, pattern in (('<script src=".../mk.js">', _MK_SCRIPT), ("mk.start(...) call", _MK_START))
               if not pattern.search(html)]
    if missing:
        raise ActionrecError(f"{where}: does not look like MK.js's game/index.html (found no {' and no '.join(missing)})")
    html = _SOCKET_IO.sub("<!-- actionrec: socket.io not loaded (the network game is not played) -->", html)
    head = _HEAD.search(html)
    at = head.end() if head else _FIRST_SCRIPT.search(html).start()  # mk.js's tag exists, so a script does
    html = html[:at] + ADAPTER_TAG + html[at:]
    tail = (PANEL_TAGS + "\n" if panel else "") + BRIDGE_TAG + "\n"
    close = html.lower().rfind("</body>")
    return html[:close] + tail + html[close:] if close >= 0 else html + tail


def check_pattern(pattern: str, classes: list[str]) -> None:
    """A ``--hook`` class pattern must match an event the model can fire: one of its classes, its coarse kind
    (``punch/*`` also matches a coarse-only ``punch``, as bridge.js reads it), ``stand``, or ``*``."""
    events = set(classes) | {"stand"}
    if pattern == "*" or pattern in events:
        return
    if pattern.endswith("/*") and any(e == pattern[:-2] or e.startswith(pattern[:-1]) for e in events):
        return
    raise ActionrecError(f"--hook {pattern}: no event of this model matches it; expected one of its classes "
                         f"({', '.join(classes)}), stand, a kind such as punch/*, or *")


def check_target(cls: str, target: str) -> str:
    """A ``--hook`` target: a Detect hook name (onPunch) or an MK.js move (HIGH_KICK); else one clear error."""
    if HOOK_NAME.fullmatch(target) or target in MOVES:
        return target
    if target.upper() in MOVES:
        return target.upper()
    raise ActionrecError(f"--hook {cls}={target}: expected a Detect hook (onPunch, onKick, onStand) or an MK.js move "
                         f"({', '.join(sorted(set(DEFAULT_MOVES.values()) | {'UPPERCUT', 'WALK_BACKWARD'}))}, ...)")
