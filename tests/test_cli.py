"""The ``actionrec`` command on tiny real datasets: inspect, embed, train, predict, and clean errors."""

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import PUNCH_AVI, leftover_temp_files
from typer.testing import CliRunner

from actionrec.chatter import filtered_stderr, has_nvidia_driver
from actionrec.cli import app

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def assert_one_line_error(result, *fragments: str) -> None:
    """Exit status 2, one ``error: ...`` line on stderr naming what is wrong, no traceback."""
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    for text in fragments:
        assert text in lines[0], (text, lines[0])


def test_inspect_clean_dataset(class_dataset):
    result = run("inspect", class_dataset)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "4 clips, 80 frames" in out and "no problems found" in out
    for label in ("other", "punch/hook", "punch/jab"):
        assert label in out
    assert "fps: 10, 25, 30" in out and "groups (2): alice (2), bob (2)" in out


def test_inspect_reports_every_problem_with_status_1(class_dataset):
    root = class_dataset
    (root / "kick").mkdir()
    (root / "other" / "noise.mp4").write_bytes(np.random.default_rng(0).integers(0, 256, 5000, np.uint8).tobytes())
    (root / "punch" / "hook" / "p2" / "notes.txt").write_text("x")
    with open(root / "groups.csv", "a") as fh:
        fh.write("ghost.avi,carol\n")
    result = run("inspect", root)
    assert result.exit_code == 1
    assert "4 problem(s):" in result.stderr
    for text in ("'kick' has no clips", "noise.mp4", "notes.txt", "'ghost.avi' is not in the dataset"):
        assert text in result.stderr
    assert "5 clips, 60 frames" in result.stdout  # what could be read is still summarized


def test_embed_train_predict(class_dataset, annotated_dataset, tmp_path):
    result = run("embed", class_dataset)
    assert result.exit_code == 0, result.output
    assert "4 clips, 42 frames embedded or cached" in result.stdout
    assert "frames/s" in result.stderr  # the progress line
    # The default features: appearance and motion, each part cached per clip on its own.
    cache = class_dataset / ".cache" / "embeddings"
    assert len(list(cache.rglob("*.npz"))) == 8 and len(list(cache.glob("diff*/*.npz"))) == 4

    out = tmp_path / "models" / "frame"
    result = run("train", class_dataset, "--model", "frame", "--out", out, "--epochs", "2")
    assert result.exit_code == 0, result.output
    assert f"wrote {out}: frame model, classes other, punch/hook, punch/jab; 2 epochs" in result.stdout
    # Not a terminal: one line per epoch, not a progress bar redrawn with carriage returns at every step.
    assert "Epoch 2/2" in result.stdout and "\r" not in result.stdout
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "history.json", "model.keras"]
    assert json.loads((out / "config.json").read_text())["features"]["kind"] == "mobilenet+diff"
    assert leftover_temp_files(tmp_path) == [] and leftover_temp_files(class_dataset) == []

    result = run("predict", out, PUNCH_AVI, "--json")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 43 and lines[1]["time"] == 0.12
    assert set(lines[0]["proba"]) == {"other", "punch/hook", "punch/jab"}
    assert abs(sum(lines[0]["proba"].values()) - 1) < 1e-3

    # The annotated layout through the same commands; the LSTM with a short window.
    lstm = tmp_path / "models" / "lstm"
    result = run("train", annotated_dataset, "--model", "lstm", "--window", "4", "--out", lstm, "--epochs", "2")
    assert result.exit_code == 0, result.output
    assert "classes kick, other, punch" in result.stdout
    result = run("predict", lstm, annotated_dataset / "videos" / "a.avi")
    assert result.exit_code == 0, result.output
    rows = result.stdout.splitlines()
    assert rows[0].split() == ["time", "class", "kick", "other", "punch"] and len(rows) == 61
    assert "first 3 frames" in result.stderr


def test_errors_are_one_line_with_status_2(class_dataset, tmp_path):
    assert_one_line_error(run("inspect", tmp_path / "nope"), str(tmp_path / "nope"), "does not exist")
    assert_one_line_error(run("embed", class_dataset, "--size", "100by56"), "--size '100by56'", "WIDTHxHEIGHT")
    assert_one_line_error(run("embed", class_dataset, "--size", "16x16"), "at least 32x32")
    assert_one_line_error(run("embed", class_dataset, "--weights", tmp_path / "w.h5"), str(tmp_path / "w.h5"), "not found")
    text = tmp_path / "text.h5"
    text.write_text("not weights")
    assert_one_line_error(run("embed", class_dataset, "--weights", text), str(text), "not usable as MobileNet")
    assert not (class_dataset / ".cache").exists() or not list((class_dataset / ".cache").rglob("*.npz"))

    (class_dataset / "kick").mkdir()
    out = tmp_path / "m"
    assert_one_line_error(run("train", class_dataset, "--model", "frame", "--out", out), "'kick' has no clips")
    assert not out.exists()
    assert_one_line_error(run("predict", tmp_path / "no_model", PUNCH_AVI), "model directory does not exist")
    # The trigger's knobs are checked before a model loads or a report folder is claimed.
    assert_one_line_error(run("replay", PUNCH_AVI, "--model", tmp_path / "no_model", "--enter", "1.5"), "--enter 1.5")
    assert_one_line_error(run("score", tmp_path / "no_model", class_dataset, "--out", tmp_path / "r", "--min-frames", "0"),
                          "--min-frames 0")
    assert not (tmp_path / "r").exists()


def test_predict_on_a_corrupt_clip(class_dataset, tmp_path):
    shutil.rmtree(class_dataset / "punch" / "hook")  # two classes: a faster model
    (class_dataset / "groups.csv").unlink()  # it names the removed clip
    out = tmp_path / "frame"
    assert run("train", class_dataset, "--model", "frame", "--out", out, "--epochs", "1").exit_code == 0
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 4096)
    assert_one_line_error(run("predict", out, bad), str(bad), "cannot open it as a video")
    keypoints = tmp_path / "clip.kp.npz"
    keypoints.write_bytes(b"")
    assert_one_line_error(run("predict", out, keypoints), str(keypoints), "a keypoint clip, no pixels; expected a video")
    good = (out / "config.json").read_text()
    (out / "config.json").write_text("{damaged")
    assert_one_line_error(run("export", out), f"{out / 'config.json'}: not a valid model config")
    (out / "config.json").write_text(good)
    (tmp_path / "weights").mkdir()
    assert_one_line_error(run("embed", class_dataset, "--weights", tmp_path / "weights"), "is a folder; expected the MobileNet weights")
    (out / "config.json").unlink()
    assert_one_line_error(run("predict", out, PUNCH_AVI), str(out), "no config.json")


@pytest.mark.slow
def test_real_process_error_has_no_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "actionrec.cli", "inspect", str(tmp_path / "missing")],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"error: {tmp_path / 'missing'}: dataset folder does not exist"]


CHATTER = (b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
           b"I0000 00:00:1796673481.697548   22290 port.cc:153] oneDNN custom operations are on.\n"
           b"E0000 00:00:1796673484.968454   22290 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error\n"
           b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")


def test_tensorflow_start_up_chatter_is_dropped_and_every_other_line_kept(capfd):
    with filtered_stderr():
        os.write(2, CHATTER[:40])  # a line split across writes is still one line
        os.write(2, CHATTER[40:] + b"warning: a real one\nE0000 00:00:1.5 1 op.cc:7] a real error\n")
    err = capfd.readouterr().err
    kept = ["warning: a real one", "E0000 00:00:1.5 1 op.cc:7] a real error"]
    if has_nvidia_driver():  # there a failed cuInit is news
        kept.insert(0, CHATTER.decode().splitlines()[2])
    assert err.splitlines() == kept


def test_two_threads_filtering_stderr_leave_it_where_it_was(capfd):
    """Thread b enters while a is inside and a leaves first: unserialized, b restored fd 2 to a's closed
    temporary file, and every later line of the process was lost."""
    import threading

    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()

    def a():
        with filtered_stderr():
            a_in.set()
            b_in.wait(1.0)  # b cannot get in while a holds fd 2: a waits in vain, then leaves
        a_out.set()

    def b():
        a_in.wait(10)
        with filtered_stderr():
            b_in.set()
            a_out.wait(10)

    threads = [threading.Thread(target=f) for f in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    os.write(2, b"after both\n")
    assert capfd.readouterr().err.splitlines() == ["after both"]


def _chatter_lines(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if "absl" in ln or ".cc:" in ln or "XNNPACK" in ln]


def _env_without_log_level(**extra) -> dict:
    return {**{k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}, **extra}


@pytest.mark.slow
def test_a_command_that_loads_tensorflow_prints_none_of_its_start_up_chatter(class_dataset, weights_path,
                                                                              pose_models_dir):
    env = _env_without_log_level(ACTIONREC_MOBILENET_WEIGHTS=str(weights_path), ACTIONREC_POSE_MODELS=str(pose_models_dir))
    proc = subprocess.run([sys.executable, "-m", "actionrec.cli", "embed", str(class_dataset), "--features", "mobilenet+pose"],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    cached = {p.parent.name for p in (class_dataset / ".cache").rglob("*.npz")}
    assert len(cached) >= 2, f"TensorFlow and LiteRT (BlazePose) both ran: {cached}"
    assert not _chatter_lines(proc.stderr), proc.stderr


@pytest.mark.slow
def test_replay_on_the_litert_export_prints_no_runtime_chatter(sparring, punch_avi, weights_path):
    """The exported model's two interpreters each said "INFO: Created TensorFlow Lite XNNPACK delegate"."""
    _, session = sparring
    proc = subprocess.run([sys.executable, "-m", "actionrec.cli", "replay", str(punch_avi), "--model",
                           str(session.model_dir), "--backend", "litert"],
                          capture_output=True, text=True, timeout=300,
                          env=_env_without_log_level(ACTIONREC_MOBILENET_WEIGHTS=str(weights_path)))
    assert proc.returncode == 0, proc.stderr
    assert "108 frames" in proc.stdout, proc.stdout
    assert not _chatter_lines(proc.stderr), proc.stderr


def test_train_checks_options_and_paths_before_embedding(class_dataset, tmp_path):
    out = tmp_path / "m"
    assert_one_line_error(run("train", class_dataset, "--model", "gru", "--out", out), "model kind 'gru': expected one of frame, lstm")
    assert_one_line_error(run("train", class_dataset, "--label-policy", "first", "--out", out), "label policy 'first'")
    assert not (class_dataset / ".cache").exists() and not out.exists()  # no embedding was started
    file = tmp_path / "clip.avi"
    file.write_bytes(PUNCH_AVI.read_bytes())
    assert_one_line_error(run("inspect", file), f"{file}: is a file, not a folder; expected a dataset folder")


@pytest.mark.slow
def test_ctrl_c_in_train_says_what_is_true(class_dataset, tmp_path):
    """Train does not resume: Ctrl-C must not promise that a rerun does."""
    out = tmp_path / "m"
    proc = subprocess.Popen(
        [sys.executable, "-m", "actionrec.cli", "train", str(class_dataset), "--model", "frame", "--epochs", "100000",
         "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        for line in proc.stdout:  # Keras prints "Epoch 1/100000" once training runs
            if line.startswith("Epoch 2/"):
                break
        # A signal that lands inside a TensorFlow C++ call can be lost under heavy load (a CI run waited
        # 120 s for one); a user then presses Ctrl-C again, so the test does too.
        for _ in range(24):
            proc.send_signal(signal.SIGINT)
            try:
                _, err = proc.communicate(timeout=5)
                break
            except subprocess.TimeoutExpired:
                continue
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == (
        "interrupted; no model was written, and a rerun trains from the start (embeddings made so far are cached)")
    assert "resumes" not in err and not out.exists() and leftover_temp_files(tmp_path) == []


def test_numbers_out_of_range_are_one_line_before_any_work(class_dataset, tmp_path):
    """Each was a traceback, or accepted (an untrained model written, a hang), until an audit tried them."""
    out = tmp_path / "m"
    for args, says in [
        (("train", class_dataset, "--out", out, "--seed", "-1"), "--seed -1: expected a whole number from 0 to 4294967295"),
        (("train", class_dataset, "--out", out, "--epochs", "0"), "--epochs 0: expected a whole number >= 1"),
        (("train", class_dataset, "--out", out, "--learning-rate", "-1"), "--learning-rate -1.0: expected a number > 0"),
        (("train", class_dataset, "--out", out, "--learning-rate", "nan"), "--learning-rate nan"),
        (("train", class_dataset, "--out", out, "--augment", "-1"), "--augment -1: expected 0 or more copies"),
        (("evaluate", class_dataset, "--out", out, "--folds", "1"), "folds 1: need at least 2 folds"),
        (("synth", tmp_path / "s", "--sparring-seconds", "nan"), "--sparring-seconds nan"),
        (("synth", tmp_path / "s", "--sparring-seconds", "1e9"), "expected 10 to 3600 s"),
        (("bench", "train", "--windows", "0"), "--windows 0: expected a whole number >= 1"),
        (("bench", "embed", "--batch-size", "0"), "--batch-size 0"),
        (("bench", "augment", "--frames", "0"), "--frames 0"),
        (("bench", "--json", tmp_path / "b.json", "augment"), "bench augment prints its JSON"),
        (("bench", "--json", tmp_path / "nowhere" / "b.json"), "cannot be written"),
    ]:
        assert_one_line_error(run(*args), says)
    assert not out.exists() and not (class_dataset / ".cache").exists() and not (tmp_path / "s").exists()
    labels = tmp_path / "labels.txt"
    labels.write_bytes(b"\xff\xfe0,x\n")
    assert_one_line_error(run("import-kinect", tmp_path, tmp_path / "k", "--labels", labels), "not UTF-8")
    good = Path(__file__).resolve().parents[1] / "datasets" / "precog" / "label_map.txt"
    assert_one_line_error(run("import-kinect", tmp_path, tmp_path / "k", "--labels", good, "--fps", "0"),
                          "expected a frame rate > 0")
    for name, junk in (("synth.json", "[]"), ("augment.json", '"x"')):
        (tmp_path / name[:-5]).mkdir()
        (tmp_path / name[:-5] / name).write_text(junk)
    assert_one_line_error(run("synth", tmp_path / "synth", "--people", "1"), "synth.json: not a JSON object")
    assert_one_line_error(run("augment", class_dataset, "--out", tmp_path / "augment"), "augment.json: not a JSON object")
    (class_dataset / "groups.csv").unlink()
    (class_dataset / "groups.csv").mkdir()
    assert_one_line_error(run("train", class_dataset, "--out", out), "groups.csv: is a folder; expected a CSV file")


def test_bench_json_refuses_a_users_file_before_measuring(tmp_path):
    """`bench --json PATH` never overwrites a file it did not write, and says so before any measuring."""
    from actionrec.tools.bench.suite import JSON_MARK, check_json_output

    mine = tmp_path / "notes.json"
    mine.write_text('{"my": "notes"}')
    result = run("bench", "--json", mine, "--seconds", "0.1")
    assert_one_line_error(result, "not written by actionrec bench")
    assert mine.read_text() == '{"my": "notes"}'
    ours = tmp_path / "figures.json"
    ours.write_text(json.dumps({JSON_MARK: 1, "embed_fps": 1.0}))
    assert check_json_output(ours) == ours  # its own earlier figures may be replaced
    assert check_json_output(tmp_path / "new.json") == tmp_path / "new.json"


def test_a_warning_is_one_line_not_pythons_file_and_source_line():
    import warnings

    import typer

    from actionrec.cli import command

    demo = typer.Typer()

    @demo.command()
    @command
    def fall_back():
        warnings.warn("embedder.tflite: sha256 does not match the record; using the Keras model", RuntimeWarning)

    result = CliRunner().invoke(demo, [])
    assert result.exit_code == 0
    assert result.stderr.splitlines() == ["warning: embedder.tflite: sha256 does not match the record; using the Keras model"]


def test_usage_errors_are_one_line_naming_the_argument(tmp_path):
    """Click's own errors (missing argument, wrong type, unknown command or option), at every level."""
    cases = [
        (("train",), "'dataset'", "train --help"),
        (("train", tmp_path, "--epochs", "x"), "'--epochs'", "train --help"),
        (("trian",), "'trian'", "(see "),
        (("score", tmp_path, "--nope"), "--nope", "score --help"),
        (("bench", "embed", "--batch-size", "many"), "'--batch-size'", "bench embed --help"),
    ]
    for args, names, see in cases:
        assert_one_line_error(run(*args), names, see)
    # No arguments at all still shows the help.
    assert "Usage" in run().output


def test_train_says_what_inspect_warns_of(annotated_dataset, tmp_path):
    """A segment between two 10 fps frames (or past its video's end) gave a model without that class, and
    clips missing from groups.csv became groups of their own, with no word about either; inspect alone knew."""
    with open(annotated_dataset / "annotations.csv", "a") as fh:
        fh.write("videos/a.avi,2.51,2.54,block\n")
    (annotated_dataset / "groups.csv").write_text("clip,group\nvideos/a.avi,alice\n")  # b.avi unlisted
    result = run("train", annotated_dataset, "--model", "frame", "--out", tmp_path / "m", "--epochs", "1",
                 "--features", "mobilenet")
    assert result.exit_code == 0, result.output
    assert "warning: " in result.stderr and "label(s) block are annotated, but no frame at 10 fps" in result.stderr
    assert "block" not in json.loads((tmp_path / "m" / "config.json").read_text())["classes"]
    assert "groups.csv: 1 of 2 clips are not listed (e.g. videos/b.avi)" in result.stderr  # as inspect says


def test_a_cache_symlink_out_of_the_dataset_is_refused(class_dataset, tmp_path):
    # A downloaded dataset can ship DATASET/.cache as a link anywhere: writing there (and removing
    # damaged-looking entries) would touch a place the user never named.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (class_dataset / ".cache").symlink_to(elsewhere)
    for command in (("embed", class_dataset, "--features", "mobilenet"),
                    ("train", class_dataset, "--model", "frame", "--out", tmp_path / "m", "--epochs", "1")):
        result = run(*command)
        assert_one_line_error(result, f"{class_dataset / '.cache'} leads to {elsewhere}", "--cache")
        assert list(elsewhere.iterdir()) == [] and not (tmp_path / "m").exists()
    # Named explicitly, the same folder is the user's choice; a link that stays inside the dataset is fine.
    result = run("embed", class_dataset, "--features", "mobilenet", "--cache", elsewhere)
    assert result.exit_code == 0, result.output
    assert len(list(elsewhere.rglob("*.npz"))) == 4
    (class_dataset / ".cache").unlink()
    (class_dataset / ".inner").mkdir()
    (class_dataset / ".cache").symlink_to(class_dataset / ".inner")
    assert run("embed", class_dataset, "--features", "mobilenet").exit_code == 0
    assert len(list((class_dataset / ".inner").rglob("*.npz"))) == 4
