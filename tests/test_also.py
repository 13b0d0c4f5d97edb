"""Training on your recordings plus another dataset (``train --also``, ``evaluate --also``): real PRECOG
skeletons of two people as "your recordings", synthetic webcam keypoint people as the added dataset."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from actionrec.cli import app
from actionrec.data.kinect import import_kinect, read_label_map
from actionrec.learn.models import own_share_rows, split_validation
from actionrec.synth.dataset import synthesize
from actionrec.synth.options import webcam_options

PRECOG = Path(__file__).resolve().parents[1] / "datasets" / "precog"
POSE = ["--features", "pose:body", "--window", "8", "--stride", "4"]


@pytest.fixture(scope="module")
def mine_and_synth(tmp_path_factory) -> tuple[Path, Path]:
    """``mine``: two real PRECOG people (one sequence each, frontal, the same moves: each fold can test one);
    ``synth``: 4 synthetic webcam people."""
    root = tmp_path_factory.mktemp("also")
    src = root / "src"
    src.mkdir()
    for name in ("Seq1_1.csv.gz", "Seq1_3.csv.gz"):
        shutil.copy(PRECOG / name, src / name)
    import_kinect(src, root / "mine", read_label_map(PRECOG / "label_map.txt"), yaw=0.0)
    synthesize(root / "synth", people=4, clips_per_class=1, sparring_per_person=0, seed=3,
               options=webcam_options(keypoints=True))
    return root / "mine", root / "synth"


def _run(*args: str):
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


def test_train_also_learns_both_datasets_and_never_holds_out_your_people(mine_and_synth, tmp_path):
    mine, synth = mine_and_synth
    code, out = _run("train", mine, *POSE, "--epochs", "2", "--early-stopping", "--also", synth,
                     "--out", tmp_path / "model")
    assert code == 0, out
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["also"] == [str(synth.resolve())]
    # Classes of both: PRECOG's names and the synthetic ones only the added people have.
    assert {"punch/left", "kick/side_right", "punch/jab", "kick/roundhouse"} <= set(config["classes"])
    # Early stopping held out synthetic people only: the two real people always trained.
    assert config["val_groups"] and all(g.startswith("synth:") for g in config["val_groups"])
    assert config["data_size"]["groups"] == 2 + 4
    alone = tmp_path / "alone"
    assert _run("train", mine, *POSE, "--epochs", "1", "--out", alone)[0] == 0
    assert json.loads((alone / "config.json").read_text())["train_windows"] < config["train_windows"]
    # --own-share: the two real people's windows repeated to make that share of the training windows.
    shares = {}
    for share in ("0", "0.6"):
        assert _run("train", mine, *POSE, "--epochs", "1", "--also", synth, "--own-share", share,
                    "--out", tmp_path / share)[0] == 0
        shares[share] = json.loads((tmp_path / share / "config.json").read_text())
    assert shares["0"]["own_repeat"] == 1 and shares["0.6"]["own_repeat"] > 1
    assert shares["0.6"]["train"]["own_share"] == 0.6 and shares["0.6"]["train_windows"] > shares["0"]["train_windows"]


def test_evaluate_also_trains_every_fold_on_it_and_tests_only_your_people(mine_and_synth, tmp_path):
    mine, synth = mine_and_synth
    code, out = _run("evaluate", mine, *POSE, "--folds", "2", "--epochs", "1", "--also", synth, "--out", tmp_path / "r")
    assert code == 0, out
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    synth_people = {f"synth:p{i:02d}" for i in range(4)}
    assert report["config"]["also"] == [str(synth.resolve())]
    for fold in report["groups_per_fold"]:
        assert set(fold["test"]) <= {"person1", "person3"} and len(fold["test"]) == 1
        assert synth_people <= set(fold["train"]) and not set(fold["test"]) & set(fold["train"])
    # Resumes: the same command finds both folds done.
    code, again = _run("evaluate", mine, *POSE, "--folds", "2", "--epochs", "1", "--also", synth, "--out", tmp_path / "r")
    assert code == 0 and again.count("done earlier") == 2


def test_also_refuses_the_dataset_itself_repeats_fine_tuning_and_outputs_inside_it(mine_and_synth, tmp_path):
    mine, synth = mine_and_synth
    refusals = [
        (("train", mine, *POSE, "--also", mine, "--out", tmp_path / "m1"), "the dataset itself"),
        (("train", mine, *POSE, "--also", synth, "--also", synth, "--out", tmp_path / "m2"), "given twice"),
        (("train", mine, "--finetune", "2", "--also", synth, "--out", tmp_path / "m3"), "--finetune --also"),
        (("evaluate", mine, "--finetune", "2", "--also", synth, "--out", tmp_path / "r"), "--also"),
        (("train", mine, *POSE, "--also", synth, "--out", synth / "model"), str(synth)),
        (("train", mine, *POSE, "--also", tmp_path / "nowhere", "--out", tmp_path / "m4"), "nowhere"),
        (("train", mine, *POSE, "--own-share", "0.2", "--out", tmp_path / "m5"), "without --also"),
        (("evaluate", mine, *POSE, "--own-share", "0.2", "--out", tmp_path / "r"), "without --also"),
        (("train", mine, *POSE, "--also", synth, "--own-share", "1", "--out", tmp_path / "m6"), "--own-share 1"),
        (("train", mine, *POSE, "--also", synth, "--own-share", "nan", "--out", tmp_path / "m7"), "--own-share nan"),
    ]
    for args, says in refusals:
        code, out = _run(*args)
        lines = [line for line in out.strip().splitlines() if line.strip()]
        assert code != 0 and len(lines) == 1 and says in lines[0] and "Traceback" not in out, (args, out)
    assert not (synth / "model").exists()
    assert not any((tmp_path / m).exists() for m in ("m1", "m2", "m3", "m4", "m5", "m6", "m7"))


def test_split_validation_draws_only_from_groups_not_kept():
    groups = np.array(["mine"] * 5 + ["s:a"] * 3 + ["s:b"] * 3 + ["s:c"] * 3 + ["s:d"] * 3)
    for seed in range(20):
        train, val = split_validation(groups, 0.5, seed, keep=frozenset({"mine"}))
        assert train[:5].all() and val.any() and not (train & val).any()
    # With fewer than 3 groups left to draw from, none is held out.
    train, val = split_validation(groups[:8], 0.5, 0, keep=frozenset({"mine"}))
    assert train.all() and not val.any()
    # Nothing kept: as before the option existed.
    assert (split_validation(groups, 0.5, 1)[1] == split_validation(groups, 0.5, 1, frozenset())[1]).all()


def test_own_share_repeats_your_windows_to_the_share_asked():
    groups = np.array(["mine"] * 10 + ["s:a"] * 450 + ["s:b"] * 450)
    rows = np.arange(len(groups))
    for share in (0.05, 0.1, 0.3):
        out, repeat = own_share_rows(rows, groups, frozenset({"mine"}), share)
        mine = np.isin(groups[out], ["mine"])
        assert repeat > 1 and abs(mine.mean() - share) < 0.01, (share, mine.mean())
        # Every window is still there, the others exactly once, each of yours `repeat` times.
        assert set(out) == set(rows) and (np.bincount(out)[:10] == repeat).all() and (np.bincount(out)[10:] == 1).all()
    # Already above the share, nothing kept, or 0: the rows as they came.
    for keep, share in ((frozenset({"s:a"}), 0.3), (frozenset(), 0.3), (frozenset({"mine"}), 0.0)):
        out, repeat = own_share_rows(rows, groups, keep, share)
        assert repeat == 1 and (out == rows).all()
