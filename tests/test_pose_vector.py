"""The per-frame pose vector: normalization, the no-person flag, missing hips, side swap and mirror."""

from __future__ import annotations

import numpy as np
import pytest

from actionrec.features.pose import vector as V


def standing(scale: float = 100.0, at=(320.0, 240.0), rng_seed: int = 0) -> np.ndarray:
    """(33, 5) landmarks of a frontal upright figure: torso length ``scale`` px, mid-hip at ``at``."""
    rng = np.random.default_rng(rng_seed)
    lm = np.zeros((33, 5))
    lm[:, :2] = rng.uniform(-1.5, 1.5, size=(33, 2))  # arbitrary limbs, in torso units
    lm[:, 2] = rng.uniform(-0.5, 0.5, size=33)
    lm[V.JOINT["left_hip"], :3] = (0.3, 0, 0.1)  # the person's left is the picture's right when facing us
    lm[V.JOINT["right_hip"], :3] = (-0.3, 0, -0.1)
    lm[V.JOINT["left_shoulder"], :3] = (0.45, -1, 0.05)
    lm[V.JOINT["right_shoulder"], :3] = (-0.45, -1, -0.05)
    lm[:, :3] *= scale
    lm[:, :2] += at
    lm[:, 3] = rng.uniform(0.2, 1.0, size=33)
    lm[:, 4] = 0.99
    return lm


def test_layout_names_and_swap_indices():
    assert V.POSE_DIM == 166 and V.NO_PERSON == 165 and len(V.BLAZEPOSE_33) == 33
    assert V.BLAZEPOSE_33[V.SIDE_SWAP[V.JOINT["left_wrist"]]] == "right_wrist"
    assert V.BLAZEPOSE_33[V.SIDE_SWAP[V.JOINT["mouth_left"]]] == "mouth_right"
    assert V.SIDE_SWAP[V.JOINT["nose"]] == V.JOINT["nose"]
    assert sorted(V.SIDE_SWAP) == list(range(33)) and np.all(V.SIDE_SWAP[V.SIDE_SWAP] == np.arange(33))
    assert len(V.PAIRS) == 16


def test_normalized_for_position_and_size():
    a = V.pose_vector(standing(100.0, (320, 240)))
    b = V.pose_vector(standing(37.0, (55.5, 401.0)))
    np.testing.assert_allclose(a, b, atol=1e-5)
    j = a[:-1].reshape(33, 5)
    np.testing.assert_allclose(j[V.JOINT["left_shoulder"], :3], [0.45, -1.0, 0.05], atol=1e-6)
    mid_hip = (j[V.JOINT["left_hip"], :2] + j[V.JOINT["right_hip"], :2]) / 2
    np.testing.assert_allclose(mid_hip, 0.0, atol=1e-6)
    assert a[V.NO_PERSON] == 0.0 and a.dtype == np.float32 and a.shape == (V.POSE_DIM,)
    # Visibility and presence are carried through.
    np.testing.assert_allclose(j[:, 3], standing()[:, 3], atol=1e-6)


def test_no_person_is_a_flag_not_a_pose_at_the_origin():
    v = V.pose_vector(None)
    assert v[V.NO_PERSON] == 1.0 and not v[:-1].any()
    assert V.pose_vector(standing())[V.NO_PERSON] == 0.0
    stacked = V.pose_vectors([None, standing(), None])
    assert stacked.shape == (3, V.POSE_DIM) and stacked[:, V.NO_PERSON].tolist() == [1, 0, 1]


def test_one_missing_hip_is_estimated_from_the_other_and_the_shoulders():
    full = V.pose_vector(standing())
    lm = standing()
    lm[V.JOINT["right_hip"], :2] = np.nan  # a source that dropped the joint
    v = V.pose_vector(lm)
    assert v[V.NO_PERSON] == 0.0
    # The estimated mid-hip: left hip + 0.35 * (right shoulder - left shoulder) = 0.3 - 0.315 = -0.015
    # torso units from the true one, so every joint shifts by about that much.
    j, jf = v[:-1].reshape(33, 5), full[:-1].reshape(33, 5)
    nose = V.JOINT["nose"]
    assert abs(j[nose, 0] - jf[nose, 0]) < 0.03 and abs(j[nose, 1] - jf[nose, 1]) < 0.03
    assert np.all(j[V.JOINT["right_hip"]] == 0)  # the missing joint: zeros, visibility and presence 0
    # Low presence (BlazePose: out of the picture) is not missing: the predicted position is used.
    lm2 = standing()
    lm2[[V.JOINT["left_hip"], V.JOINT["right_hip"]], 3:] = 0.01
    j2 = V.pose_vector(lm2)[:-1].reshape(33, 5)
    np.testing.assert_allclose(j2[:, :3], jf[:, :3], atol=1e-6)
    assert j2[V.JOINT["left_hip"], 4] == pytest.approx(0.01)


def test_both_hips_or_a_shoulder_missing_means_no_usable_pose():
    lm = standing()
    lm[[V.JOINT["left_hip"], V.JOINT["right_hip"]], :3] = np.nan
    assert V.pose_vector(lm)[V.NO_PERSON] == 1.0
    lm = standing()
    lm[V.JOINT["left_shoulder"]] = np.nan
    assert V.pose_vector(lm)[V.NO_PERSON] == 1.0
    lm = standing()
    lm[:, :2] = 5.0  # everything on one point: no torso length
    assert V.pose_vector(lm)[V.NO_PERSON] == 1.0
    with pytest.raises(ValueError, match=r"\(17, 5\)"):
        V.pose_vector(np.zeros((17, 5)))


def test_mirror_equals_the_vector_of_the_flipped_picture():
    lm = standing()
    flipped = lm.copy()
    flipped[:, 0] = 640.0 - flipped[:, 0]  # the picture flipped: the person's left is now drawn as right
    flipped = flipped[V.SIDE_SWAP]  # ...and an estimator names the joints by the flipped body
    np.testing.assert_allclose(V.mirror(V.pose_vector(lm)), V.pose_vector(flipped), atol=1e-5)
    v = V.pose_vector(lm)
    np.testing.assert_array_equal(V.mirror(V.mirror(v)), v)
    assert not np.signbit(V.mirror(V.pose_vector(None))).any()  # no -0.0: same bytes for the same input


def test_swap_sides_and_the_side_symmetric_variant():
    v = V.pose_vector(standing())
    s = V.swap_sides(v)
    j, js = v[:-1].reshape(33, 5), s[:-1].reshape(33, 5)
    np.testing.assert_array_equal(js[V.JOINT["left_knee"]], j[V.JOINT["right_knee"]])
    np.testing.assert_array_equal(js[V.JOINT["nose"]], j[V.JOINT["nose"]])
    np.testing.assert_array_equal(V.side_symmetric(s), V.side_symmetric(v))
    assert not np.array_equal(s, v)
    np.testing.assert_array_equal(v[V.SWAP_COLUMNS], s)  # the column form that training's swap uses
    # Batched: (N, POSE_DIM) in, same shape out, flag untouched.
    batch = np.stack([v, V.pose_vector(None)])
    for fn in (V.swap_sides, V.mirror, V.side_symmetric):
        out = fn(batch)
        assert out.shape == batch.shape and out[:, V.NO_PERSON].tolist() == [0.0, 1.0]
