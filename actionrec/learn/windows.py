"""Sliding windows of n frame embeddings: what the sequence model sees, and what gets evaluated.

A window is n consecutive embeddings (at the model's frame rate) of one clip. Windows are kept as index
arrays into one big frame table instead of copies, since neighbouring windows share n - stride frames.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from actionrec.data.datasets import Clip
from actionrec.errors import ActionrecError
from actionrec.features.cache import ClipEmbeddings

LABEL_POLICIES = ("last", "center", "majority")


@dataclass
class WindowSet:
    frames: np.ndarray  # (F, 1024) every frame embedding of every clip; (F, H, W, 3) uint8 pixels to fine-tune
    frame_labels: np.ndarray  # (F,) label of each frame
    index: np.ndarray  # (W, n) rows into ``frames``, oldest first
    labels: np.ndarray  # (W,) window label by the label policy
    groups: np.ndarray  # (W,) group (person) of the window's clip
    clip_ids: np.ndarray  # (W,) clip of each window
    end_times: np.ndarray  # (W,) timestamp of each window's last frame
    skipped: list[str] = field(default_factory=list)  # clips shorter than one window
    clip_rows: np.ndarray | None = None  # (W, 2) first row and one past the last row of the window's clip

    def __len__(self) -> int:
        return len(self.index)

    @property
    def n(self) -> int:
        return self.index.shape[1]

    def subset(self, mask: np.ndarray) -> "WindowSet":
        return WindowSet(
            self.frames, self.frame_labels, self.index[mask], self.labels[mask], self.groups[mask],
            self.clip_ids[mask], self.end_times[mask], self.skipped,
            None if self.clip_rows is None else self.clip_rows[mask],
        )

    def sequences(self, rows: np.ndarray | slice | None = None) -> np.ndarray:
        """(W, n, 1024) float32 embeddings of the selected windows (materialized on demand)."""
        idx = self.index if rows is None else self.index[rows]
        return self.frames[idx]

    def last_frames(self) -> np.ndarray:
        return self.frames[self.index[:, -1]]


def window_label(labels: list[str], policy: str) -> str:
    if policy == "last":
        return labels[-1]
    if policy == "center":
        return labels[len(labels) // 2]
    if policy == "majority":
        # Ties go to the most recent label among the tied, what a live caller would want.
        counts = Counter(labels)
        best = max(counts.values())
        return next(lab for lab in reversed(labels) if counts[lab] == best)
    raise ActionrecError(f"label policy {policy!r}: expected one of {', '.join(LABEL_POLICIES)}")


def make_windows(
    clips: list[Clip],
    embeddings: dict[str, ClipEmbeddings],
    n: int = 16,
    stride: int = 1,
    policy: str = "last",
) -> WindowSet:
    """Slide an n-frame window with ``stride`` over each clip's embeddings.

    Class-folder clips give every window the clip's label; annotated videos use ``policy`` on the frame
    labels (``last``: what the live loop must say "now"). Clips shorter than n are skipped and listed.
    """
    if n < 1 or stride < 1:
        raise ActionrecError(f"window n={n}, stride={stride}: both must be >= 1")
    if policy not in LABEL_POLICIES:
        raise ActionrecError(f"label policy {policy!r}: expected one of {', '.join(LABEL_POLICIES)}")
    frames, frame_labels, index, labels, groups, ids, ends, skipped, spans = [], [], [], [], [], [], [], [], []
    offset = 0
    for clip in clips:
        emb = embeddings[clip.id]
        m = len(emb.times)
        clip_labels = clip.labels_at(emb.times)
        frames.append(emb.embeddings)
        frame_labels.extend(clip_labels)
        if m < n:
            skipped.append(clip.id)
        for end in range(n - 1, m, stride):
            rows = np.arange(end - n + 1, end + 1)
            index.append(rows + offset)
            labels.append(clip.label if clip.label is not None else window_label(clip_labels[end - n + 1 : end + 1], policy))
            groups.append(clip.group)
            ids.append(clip.id)
            ends.append(emb.times[end])
            spans.append((offset, offset + m))
        offset += m
    if not index:
        raise ActionrecError(
            f"no windows of {n} frames: all {len(clips)} clip(s) are shorter than the window "
            f"({len(skipped)} skipped); use a smaller window or longer clips"
        )
    table = np.concatenate(frames)
    return WindowSet(
        # Pixels stay uint8 (4x smaller; the fine-tuned model casts them itself).
        frames=table if table.dtype == np.uint8 else table.astype(np.float32, copy=False),
        frame_labels=np.asarray(frame_labels),
        index=np.asarray(index, dtype=np.int64),
        labels=np.asarray(labels),
        groups=np.asarray(groups),
        clip_ids=np.asarray(ids),
        end_times=np.asarray(ends, dtype=np.float64),
        skipped=skipped,
        clip_rows=np.asarray(spans, dtype=np.int64).reshape(-1, 2),
    )


def trailing_windows(embeddings: np.ndarray, n: int) -> np.ndarray:
    """(N, 1024) -> (N, n, 1024): the window ending at every frame, as the live loop sees it.

    Until n frames exist the first frame is repeated, the ring buffer's rule at start-up.
    """
    rows = np.arange(len(embeddings))[:, None] + np.arange(n)[None, :] - (n - 1)
    return embeddings[np.maximum(rows, 0)]
