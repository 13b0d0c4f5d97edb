"""TriggerPolicy on hand-made probability streams (classes: two punches, one kick, two others)."""

import numpy as np
import pytest

from actionrec.errors import ActionrecError
from actionrec.events.trigger import TriggerOptions, TriggerPolicy, article_rule

CLASSES = ["kick/front", "other/idle", "other/walk", "punch/cross", "punch/jab"]


def frame(punch=0.0, kick=0.0, other=None, jab_share=1.0):
    """A fine probability vector from coarse values (other takes the rest, split idle/walk)."""
    other = 1.0 - punch - kick if other is None else other
    return np.array([kick, other * 0.5, other * 0.5, punch * (1 - jab_share), punch * jab_share])


def run(policy, frames, fps=30.0):
    out = []
    for i, p in enumerate(frames):
        out += [(i, e.kind, e.fine) for e in policy.update(p, i / fps)]
    return out


def test_one_event_per_move_and_stand_after():
    policy = TriggerPolicy(CLASSES, TriggerOptions(min_frames=2, cooldown=0.0, stand_enter=0.6))
    stream = [frame()] * 3 + [frame(punch=0.8)] * 6 + [frame()] * 4
    assert run(policy, stream) == [(4, "punch", "punch/jab"), (10, "stand", "other/idle")]


def test_min_frames_ignores_single_frame_blips():
    policy = TriggerPolicy(CLASSES, TriggerOptions(min_frames=3, cooldown=0.0))
    blips = [frame(), frame(kick=0.9), frame(), frame(kick=0.9), frame(kick=0.9), frame()]
    assert run(policy, blips) == []
    held = [frame()] + [frame(kick=0.9)] * 3
    assert run(policy, held) == [(3, "kick", "kick/front")]


def test_hysteresis_holds_until_exit_threshold():
    opts = TriggerOptions(enter={"punch": 0.5, "kick": 0.5}, exit={"punch": 0.2, "kick": 0.2},
                          min_frames=1, cooldown=0.0, stand_enter=0.95)
    # Punch wobbles between 0.3 and 0.6 (below enter, above exit): one event, not three.
    wobble = [frame(punch=v, other=0.3) for v in (0.6, 0.3, 0.6, 0.3, 0.6)]
    assert [k for _, k, _ in run(TriggerPolicy(CLASSES, opts), wobble)] == ["punch"]
    # Dropping below exit releases it, so the next rise fires again.
    release = [frame(punch=0.6, other=0.3), frame(punch=0.1, other=0.3), frame(punch=0.6, other=0.3)]
    assert [k for _, k, _ in run(TriggerPolicy(CLASSES, opts), release)] == ["punch", "punch"]


def test_cooldown_blocks_fast_refire_of_same_attack_only():
    opts = TriggerOptions(min_frames=1, cooldown=0.5, stand_enter=0.95)
    rest = frame(other=0.9)  # released, but not sure enough for stand
    # Punch, release, punch again 2 frames (66 ms) later: blocked; a kick right after is not.
    stream = [frame(punch=0.8), rest, frame(punch=0.8), frame(kick=0.8)]
    assert [(i, k) for i, k, _ in run(TriggerPolicy(CLASSES, opts), stream)] == [(0, "punch"), (3, "kick")]
    # After the cooldown the same punch fires again.
    stream = [frame(punch=0.8)] + [rest] * 15 + [frame(punch=0.8)]
    assert [(i, k) for i, k, _ in run(TriggerPolicy(CLASSES, opts), stream)] == [(0, "punch"), (16, "punch")]


def test_switching_attack_fires_without_stand():
    policy = TriggerPolicy(CLASSES, TriggerOptions(min_frames=1, cooldown=0.0))
    stream = [frame(punch=0.7), frame(punch=0.2, kick=0.7), frame(other=1.0)]
    assert [k for _, k, _ in run(policy, stream)] == ["punch", "kick", "stand"]


def test_no_stand_without_a_previous_attack():
    policy = TriggerPolicy(CLASSES, TriggerOptions(min_frames=1))
    assert run(policy, [frame()] * 10) == []


def test_other_blocks_even_a_confident_attack():
    policy = TriggerPolicy(CLASSES, TriggerOptions(min_frames=1, cooldown=0.0))
    assert run(policy, [frame(punch=0.55, kick=0.0, other=0.45)] * 3) == []


def test_fine_class_is_the_top_member_of_the_coarse_class():
    policy = TriggerPolicy(CLASSES, TriggerOptions(min_frames=1))
    [(_, kind, fine)] = run(policy, [frame(punch=0.9, jab_share=0.2)])
    assert (kind, fine) == ("punch", "punch/cross")


def test_article_options_fire_on_rising_edges_of_the_article_rule():
    rng = np.random.default_rng(7)
    probs = rng.dirichlet([1.0, 1.0, 1.0], size=400)  # columns: punch, kick, other
    policy = TriggerPolicy(["punch", "kick", "other"], TriggerOptions.article())
    fired = {}
    for i, (p, k, o) in enumerate(probs):
        for e in policy.update(np.array([p, k, o]), float(i)):
            if e.kind != "stand":
                fired[i] = e.kind
    decisions = [article_rule(p, k, o) for p, k, o in probs]
    edges = {i: d for i, d in enumerate(decisions) if d is not None and (i == 0 or decisions[i - 1] != d)}
    assert fired == edges
    assert len(edges) > 50  # the stream exercised the rule


def test_article_rule_matches_the_seed_article():
    assert article_rule(0.5, 0.1, 0.4) is None  # other >= 0.4: nothing
    assert article_rule(0.1, 0.5, 0.39) == "kick"
    assert article_rule(0.36, 0.3, 0.34) == "punch"
    assert article_rule(0.34, 0.33, 0.33) is None  # below 0.35
    assert article_rule(0.4, 0.4, 0.2) is None  # a tie picks neither


def test_bad_options_and_classes_are_reported():
    with pytest.raises(ActionrecError, match="exit <= enter"):
        TriggerOptions(enter={"punch": 0.3, "kick": 0.3}, exit={"punch": 0.4, "kick": 0.2})
    with pytest.raises(ActionrecError, match="missing"):
        TriggerPolicy(["punch", "other"])


def test_enter_and_min_frames_knobs():
    """``--enter``/``--min-frames``: the defaults are the default policy; a higher threshold and more frames
    fire later on the same stream; bad values are one line naming the option."""
    assert TriggerOptions.at() == TriggerOptions() and TriggerOptions().describe() == "default trigger policy"
    strict = TriggerOptions.at(0.7, 3)
    assert strict.exit == {"punch": 0.5, "kick": 0.5} and strict.min_frames == 3
    assert strict.describe() == "trigger enter 0.7, exit 0.5, 3 frames"
    assert TriggerOptions.at(0.1).exit == {"punch": 0.0, "kick": 0.0}
    rising = [frame(punch=p, other=0.1 if p else 1.0) for p in (0.0, 0.55, 0.6, 0.65, 0.72, 0.75, 0.8, 0.8, 0.0)]
    first = [run(TriggerPolicy(CLASSES, o), rising)[0][0] for o in (TriggerOptions.at(), strict)]
    assert first == [3, 6]  # 0.5 held three frames from frame 1; 0.7 held three from frame 4
    assert run(TriggerPolicy(CLASSES, TriggerOptions.at(0.5, 2)), rising)[0][0] == 2
    for args, option in (((0.0,), "--enter"), ((1.5,), "--enter"), ((0.5, 0), "--min-frames"), ((True,), "--enter")):
        with pytest.raises(ActionrecError, match=option):
            TriggerOptions.at(*args)


def test_frames_in_a_row_are_the_models_frames_at_any_camera_rate():
    """A 10 fps model fed by a 30 fps camera: each model frame's probabilities arrive three times."""
    model_frames = [frame()] * 3 + [frame(kick=0.9)] + [frame()] * 3 + [frame(punch=0.9)] * 3 + [frame()] * 4
    camera = [p for p in model_frames for _ in range(3)]
    at_model_rate = run(TriggerPolicy(CLASSES, TriggerOptions(min_frames=3)), model_frames, fps=10.0)
    assert [k for _, k, _ in at_model_rate] == ["punch", "stand"]  # the one-frame kick is a blip
    counted_by_camera = run(TriggerPolicy(CLASSES, TriggerOptions(min_frames=3)), camera)
    assert [k for _, k, _ in counted_by_camera][:2] == ["kick", "stand"]  # what counting camera frames fired
    by_model = run(TriggerPolicy(CLASSES, TriggerOptions(min_frames=3), fps=10.0), camera)
    assert [(i / 30, k) for i, k, _ in by_model] == [(i / 10, k) for i, k, _ in at_model_rate]
    # Every camera frame must agree: a frame between the model's frames that disagrees breaks the run.
    broken = [frame(punch=0.9)] * 5 + [frame()] + [frame(punch=0.9)] * 7  # model frames at 0, 3, 6, 9, 12
    assert run(TriggerPolicy(CLASSES, TriggerOptions(min_frames=3), fps=10.0), broken) == [(12, "punch", "punch/jab")]
