"""Turn per-frame class probabilities into game events: ``punch``, ``kick`` and ``stand``.

The seed article fires on every frame with a fixed rule (``article_rule``): nothing while ``other`` is
>= 0.4, else the larger of kick/punch if it is >= 0.35. A game wants one event per move instead, so
``TriggerPolicy`` wraps that rule in a small state machine:

- an attack *enters* when the rule picks it for ``min_frames`` frames in a row (and its cooldown has
  passed): one event, then the attack stays *active*. Frames are counted at the model's rate (``fps``,
  ``data/clock.py``): a 30 fps camera feeding a 10 fps model must agree on every frame across
  ``min_frames`` of the model's frames, not on three camera frames 66 ms apart;
- an active attack is *released* when its probability falls below its exit threshold (hysteresis: exit
  below enter, so a flickering 0.34/0.36 does not fire twice);
- ``stand`` fires once, when the person is back to ``other`` (other >= ``stand_enter`` for
  ``min_frames`` frames) after an attack.

Fine labels look like ``punch/jab`` or ``other/idle``: the coarse class is the part before the slash.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from actionrec.data.clock import ModelClock
from actionrec.data.datasets import coarse
from actionrec.errors import ActionrecError

ATTACKS = ("punch", "kick")
OTHER = "other"
STAND = "stand"
# The defaults of ``TriggerOptions`` and of ``--enter`` / ``--min-frames`` (``TriggerOptions.at``): one place.
DEFAULT_ENTER = 0.5
DEFAULT_MIN_FRAMES = 3  # why 3, not 2: TriggerOptions
EXIT_GAP = 0.2  # hysteresis: an attack is released this far below its enter threshold (0.5 in, 0.3 out)


def release_threshold(enter: float) -> float:
    """The exit threshold that goes with ``enter`` (rounded: 0.7 - 0.2 is 0.49999999999999994)."""
    return max(0.0, round(float(enter) - EXIT_GAP, 6))


def article_rule(punch: float, kick: float, other: float,
                 enter: float = 0.35, other_block: float = 0.4) -> str | None:
    """The seed article's per-frame decision: ``'punch'``, ``'kick'`` or ``None``."""
    if other >= other_block:
        return None
    if kick > punch and kick >= enter:
        return "kick"
    if punch > kick and punch >= enter:
        return "punch"
    return None


@dataclass(frozen=True)
class TriggerOptions:
    """Thresholds of the trigger state machine (probabilities are coarse sums over fine classes).

    The article's 0.35 was for three classes on single frames; with fine classes summed per coarse class
    and an LSTM's smoother output, 0.5 to enter and 0.3 to release fired each synthetic sparring move
    exactly once (``events.tune_trigger`` on replayed probabilities); ``article()`` gives the original.
    Three frames in a row, not two: on real people the wrong attacks are short confident bursts (the
    starter on PRECOG's 12 people, zero-shot: 6.1 false triggers a minute instead of 9.2 at yaw 0, 4.9
    instead of 7.2 at 45 degrees, 282 and 290 of 363 moves hit instead of 286 and 291; the real
    calisthenics clip 13 false attacks instead of 16), while synthetic sparring kept every hit (116 of
    120); each fires about 0.1 s later (PRECOG's median onset 633 ms instead of 500).
    """

    enter: dict[str, float] = field(default_factory=lambda: {a: DEFAULT_ENTER for a in ATTACKS})
    exit: dict[str, float] = field(default_factory=lambda: {a: release_threshold(DEFAULT_ENTER) for a in ATTACKS})
    other_block: float = 0.4  # the article: other >= 0.4 means "do nothing"
    stand_enter: float = 0.6  # other this sure, after an attack, is "back to stand"
    min_frames: int = DEFAULT_MIN_FRAMES  # consecutive frames the rule must agree before an event (above: why 3)
    cooldown: float = 0.5  # seconds before the same attack may fire again

    def __post_init__(self) -> None:
        for name in ATTACKS:
            if name not in self.enter or name not in self.exit:
                raise ActionrecError(f"trigger thresholds: need enter and exit for {name!r}")
            if not 0.0 <= self.exit[name] <= self.enter[name] <= 1.0:
                raise ActionrecError(
                    f"trigger thresholds for {name!r}: expected 0 <= exit <= enter <= 1, "
                    f"got exit={self.exit[name]} enter={self.enter[name]}"
                )
        if self.min_frames < 1:
            raise ActionrecError(f"trigger min_frames must be >= 1, got {self.min_frames}")
        if self.cooldown < 0:
            raise ActionrecError(f"trigger cooldown must be >= 0 seconds, got {self.cooldown}")

    @classmethod
    def at(cls, enter: float = DEFAULT_ENTER, min_frames: int = DEFAULT_MIN_FRAMES) -> "TriggerOptions":
        """``--enter`` and ``--min-frames``: one threshold for both attacks, released ``EXIT_GAP`` below it.

        The starter's wrong attacks on real people are confident ones: on PRECOG, enter 0.9 instead of 0.5
        (two frames) took false triggers from 9.2 to 6.7 a minute, about what a third frame does at 0.5
        (README, "Live play", has the table)."""
        if isinstance(enter, bool) or not isinstance(enter, (int, float)) or not 0.0 < enter <= 1.0:
            raise ActionrecError(f"--enter {enter!r}: expected a probability above 0 and at most 1")
        if isinstance(min_frames, bool) or not isinstance(min_frames, int) or min_frames < 1:
            raise ActionrecError(f"--min-frames {min_frames!r}: expected a whole number of frames, 1 or more")
        return cls(enter={a: float(enter) for a in ATTACKS}, exit={a: release_threshold(enter) for a in ATTACKS},
                   min_frames=min_frames)

    def describe(self) -> str:
        """One line for reports: the default policy, or what differs from it."""
        if self == TriggerOptions():
            return "default trigger policy"
        def values(d: dict) -> str:
            return "/".join(f"{v:g}" for v in sorted(set(d.values())))

        return f"trigger enter {values(self.enter)}, exit {values(self.exit)}, {self.min_frames} frames"

    @classmethod
    def article(cls) -> "TriggerOptions":
        """The article's rule as an edge trigger: no hysteresis, no debounce, no cooldown."""
        return cls(enter={"punch": 0.35, "kick": 0.35}, exit={"punch": 0.35, "kick": 0.35},
                   other_block=0.4, stand_enter=0.4, min_frames=1, cooldown=0.0)


@dataclass(frozen=True)
class Event:
    """One game event. ``t`` is the capture time of the frame that fired it."""

    kind: str  # 'punch' | 'kick' | 'stand'
    fine: str  # the most likely fine class of that coarse class, e.g. 'kick/back' or 'other/idle'
    prob: float  # coarse probability on the firing frame
    t: float

    def to_dict(self) -> dict:
        return {"kind": self.kind, "fine": self.fine, "prob": round(float(self.prob), 4), "t": self.t}


class TriggerPolicy:
    """Feed it one probability vector per frame (``update``); it returns the events that frame fired."""

    def __init__(self, classes: Sequence[str], options: TriggerOptions | None = None, fps: float = 0.0) -> None:
        """``fps``: the model's frame rate, by which ``min_frames`` is counted (0: every update is a frame).

        Without it a pose model fed by a 30 fps camera, whose probabilities change only on its 10 fps
        frames, repeats each of them three times and meets three frames in a row on one: every
        debounced figure (README, "How eager the trigger is") was measured at the model's rate."""
        self.classes = list(classes)
        self.options = options or TriggerOptions()
        self.clock = ModelClock(fps)
        coarse_of = [coarse(c) for c in self.classes]
        missing = [c for c in (*ATTACKS, OTHER) if c not in coarse_of]
        if missing:
            raise ActionrecError(
                f"model classes {self.classes}: the trigger needs punch, kick and other classes; missing {missing}"
            )
        # Indices of the fine classes of each coarse class, to sum and to pick the top fine label.
        self._members = {c: np.array([i for i, k in enumerate(coarse_of) if k == c]) for c in (*ATTACKS, OTHER)}
        self.reset()

    def reset(self) -> None:
        self._active: str | None = None  # attack currently held
        self._needs_stand = False  # an attack fired and stand has not yet
        self._streak: tuple[str | None, int] = (None, 0)  # rule outcome and how many model frames in a row
        self._stand_streak = 0
        self._last_fired: dict[str, float] = {}
        self.clock.clear()

    def coarse_probs(self, probs: np.ndarray) -> dict[str, float]:
        """Coarse probabilities: the sum over each coarse class's fine classes."""
        probs = np.asarray(probs, dtype=np.float64)
        return {c: float(probs[idx].sum()) for c, idx in self._members.items()}

    def _fine(self, kind: str, probs: np.ndarray) -> str:
        idx = self._members[kind]
        return self.classes[int(idx[np.argmax(np.asarray(probs)[idx])])]

    def update(self, probs: np.ndarray, t: float) -> list[Event]:
        o = self.options
        p = self.coarse_probs(probs)
        events: list[Event] = []

        # Release the held attack once it drops below its exit threshold.
        if self._active is not None and p[self._active] < o.exit[self._active]:
            self._active = None

        pick = article_rule(p["punch"], p["kick"], p[OTHER], 0.0, o.other_block)
        if pick is not None and p[pick] < o.enter[pick]:
            pick = None
        tick = self.clock.ticks(t)  # a frame of the model's own: the streaks count these
        prev, n = self._streak
        self._streak = (pick, n + tick if pick == prev else 1)
        if pick is not None and pick != self._active and self._streak[1] >= o.min_frames:
            last = self._last_fired.get(pick)
            if last is None or t - last >= o.cooldown:
                events.append(Event(pick, self._fine(pick, probs), p[pick], t))
                self._active = pick
                self._needs_stand = True
                self._last_fired[pick] = t

        if p[OTHER] < o.stand_enter:
            self._stand_streak = 0
        else:
            self._stand_streak = self._stand_streak + tick if self._stand_streak else 1
        if self._needs_stand and not events and self._stand_streak >= o.min_frames:
            events.append(Event(STAND, self._fine(OTHER, probs), p[OTHER], t))
            self._active = None
            self._needs_stand = False
        return events
