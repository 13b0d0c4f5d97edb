"""Never lose a user's files: every command writes only into a new or empty folder or its own output,
checks it before any work, and turns any file-system failure into one line.

Read-only and full disks are real: tmpfs mounts (root ignores permission bits, so chmod proves nothing).
"""

import json
import os
import stat
import subprocess
import sys

import pytest
from conftest import PUNCH_AVI, leftover_temp_files
from test_cli import assert_one_line_error, run

from actionrec.errors import ActionrecError
from actionrec.util import outputs
from actionrec.util.atomic import atomic_dir, remove_stale_temps, write_text
from actionrec.util.outputs import AUGMENT, DATASET, DEMO, MODEL, MODEL_FILES, REPORT, SCORE, SYNTH, claim_output

KINDS = [MODEL, REPORT, SCORE, SYNTH, AUGMENT, DEMO, DATASET]
UMASK = os.umask(0)
os.umask(UMASK)


def _dead_pid() -> int:
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    return done.pid


@pytest.fixture
def mount(tmp_path):
    """``mount(name, "ro")`` or ``mount(name, "size=64k")``: a real tmpfs under tmp_path, unmounted after."""
    made = []

    def do(name: str, options: str):
        where = tmp_path / name
        where.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True, text=True)
        if done.returncode:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        made.append(where)
        return where

    yield do
    for where in reversed(made):
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def _user_folder(tmp_path, name="u"):
    folder = tmp_path / name
    folder.mkdir()
    (folder / "t.txt").write_text("x")
    return folder


def _model_dir(path):
    path.mkdir(parents=True)
    (path / "config.json").write_text('{"kind": "frame", "classes": ["a", "b"], "embedder": {}}')
    (path / "model.keras").write_bytes(b"PK")
    return path


# --- claim_output, the one place every command asks -------------------------------------------------


def test_a_new_or_empty_place_is_fine_and_the_claim_creates_nothing(tmp_path):
    for kind in KINDS:
        assert claim_output(tmp_path / "new" / "deeper", kind) == tmp_path / "new" / "deeper"
        (tmp_path / "empty").mkdir(exist_ok=True)
        claim_output(tmp_path / "empty", kind)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"] and not any((tmp_path / "empty").iterdir())


def test_a_file_or_a_folder_of_user_files_is_refused_for_every_kind_and_left_alone(tmp_path):
    file = tmp_path / "notes.txt"
    file.write_text("mine")
    folder = _user_folder(tmp_path)
    for kind in KINDS:
        with pytest.raises(ActionrecError, match=f"^{file}: exists and is a file, not a folder; .*left as it is"):
            claim_output(file, kind)
        with pytest.raises(ActionrecError, match=f"^{folder}: holds t.txt, not {kind.a}; .*nothing there was touched"):
            claim_output(folder, kind)
        with pytest.raises(ActionrecError, match=f"{file} is a file, not a folder"):
            claim_output(file / "sub", kind)
    assert file.read_text() == "mine" and [p.name for p in folder.iterdir()] == ["t.txt"]


def test_the_dataset_itself_a_folder_holding_it_or_one_inside_it_is_refused(tmp_path):
    dataset = tmp_path / "mine"
    (dataset / "punch").mkdir(parents=True)
    with pytest.raises(ActionrecError, match=f"^{dataset}: is the dataset {dataset} itself"):
        claim_output(dataset, MODEL, inputs=[dataset])
    with pytest.raises(ActionrecError, match=f"^{tmp_path}: holds the dataset {dataset}"):
        claim_output(tmp_path, REPORT, inputs=[dataset])
    with pytest.raises(ActionrecError, match=f"^{dataset / 'models' / 'x'}: is inside the dataset {dataset}"):
        claim_output(dataset / "models" / "x", MODEL, inputs=[dataset])


def test_a_model_directory_is_replaced_only_with_overwrite_and_never_with_a_user_file_inside(tmp_path):
    model = _model_dir(tmp_path / "m")
    with pytest.raises(ActionrecError, match=f"^{model}: holds a model directory already; pass --overwrite"):
        claim_output(model, MODEL)
    claim_output(model, MODEL, overwrite=True)
    (model / "notes.txt").write_text("mine")  # replacing the folder would delete it
    with pytest.raises(ActionrecError, match=f"^{model}: holds notes.txt besides the model directory's own files"):
        claim_output(model, MODEL, overwrite=True)
    claim_output(model, MODEL_FILES)  # export adds files into it: fine
    with pytest.raises(ActionrecError, match=f"^{tmp_path / 'none'}: does not exist; expected a model directory"):
        claim_output(tmp_path / "none", MODEL_FILES)
    with pytest.raises(ActionrecError, match=f"^{tmp_path / 'none'}: is empty, not a model directory"):
        (tmp_path / "none").mkdir()
        claim_output(tmp_path / "none", MODEL_FILES)


def test_each_command_takes_back_its_own_output_and_names_another_commands(tmp_path):
    report = tmp_path / "report"  # an evaluation killed in its first fold: folds/ with only a temp file
    (report / "folds").mkdir(parents=True)
    (report / "folds" / f".fold0-0123456789abcdef.npz.{_dead_pid()}.ab12cd34.actionrec-tmp.npz").write_bytes(b"")
    claim_output(report, REPORT)
    (report / "folds" / "fold0-0123456789abcdef.npz").write_bytes(b"")
    claim_output(report, REPORT)
    synth = tmp_path / "synth"
    synth.mkdir()
    (synth / ".synth-pending.json").write_text("{}")
    claim_output(synth, SYNTH)
    augment = tmp_path / "aug"
    augment.mkdir()
    (augment / "augment.json").write_text("{}")
    claim_output(augment, AUGMENT)
    demo = tmp_path / "demo"
    demo.mkdir()
    (demo / "demo.json").write_text('{"options": {}}')
    claim_output(demo, DEMO)
    dataset = tmp_path / "dataset"
    (dataset / "punch").mkdir(parents=True)
    claim_output(dataset, DATASET)
    model = _model_dir(tmp_path / "model")

    with pytest.raises(ActionrecError, match=f"^{report}: holds an evaluation report folder, not a model directory"):
        claim_output(report, MODEL)
    with pytest.raises(ActionrecError, match=f"^{model}: holds a model directory, not a dataset"):
        claim_output(model, DATASET)
    with pytest.raises(ActionrecError, match=f"^{demo}: holds a demo folder, not a synthetic dataset"):
        claim_output(demo, SYNTH)
    with pytest.raises(ActionrecError, match=f"^{augment}: holds an augment output, not an evaluation report folder"):
        claim_output(augment, REPORT)


def test_a_read_only_place_is_refused_before_any_work(tmp_path, mount):
    ro = mount("ro", "ro")
    with pytest.raises(ActionrecError, match=f"^{ro / 'm'}: cannot write in {ro}: read-only file system$"):
        claim_output(ro / "m", MODEL)
    with pytest.raises(ActionrecError, match=f"^{ro}: cannot write there: read-only file system$"):
        claim_output(ro, REPORT)


# --- the atomic writes underneath --------------------------------------------------------------------


def test_atomic_dir_refuses_a_file_and_never_moves_it_aside(tmp_path):
    target = tmp_path / "out"
    target.write_text("mine")
    with pytest.raises(ActionrecError, match=f"^{target}: exists and is not a folder"):
        with atomic_dir(target) as tmp:
            (tmp / "config.json").write_text("{}")
    assert target.read_text() == "mine" and [p.name for p in tmp_path.iterdir()] == ["out"]


def test_the_stale_temp_sweep_touches_only_names_actionrec_makes_of_writers_that_are_gone(tmp_path):
    dead = _dead_pid()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        ours_dead = tmp_path / f".model.keras.{dead}.ab12cd34.actionrec-tmp.keras"
        ours_live = tmp_path / f".model.keras.{live.pid}.ab12cd34.actionrec-tmp.keras"
        users = [
            tmp_path / f".t.txt.old-{dead}",  # what atomic_dir used to rename a user's file to, then delete
            tmp_path / f".notes.{dead}.draft.tmp.bak.txt",  # looks like a temp, but not one of ours
            # The form before actionrec's tag, which a user's names can have: swept (deleted, renamed) until then.
            tmp_path / ".notes.2024.draft_v1.tmp",
            tmp_path / f".model.keras.{dead}.ab12cd34.tmp.keras",
            tmp_path / "t.txt",
        ]
        for f in [ours_dead, ours_live, *users]:
            f.write_text("x")
        remove_stale_temps(tmp_path)
        assert not ours_dead.exists()
        assert ours_live.exists() and all(f.read_text() == "x" for f in users)
    finally:
        live.kill()
        live.wait()


def test_an_old_folder_left_between_the_two_renames_is_put_back_not_deleted(tmp_path):
    """A writer killed after moving the previous model aside, before moving the new one in."""
    old = tmp_path / f".model.actionrec-old-{_dead_pid()}"
    old.mkdir()
    (old / "config.json").write_text("previous")
    write_text(tmp_path / "other.json", "{}")  # any write in the folder sweeps it
    assert (tmp_path / "model" / "config.json").read_text() == "previous" and not old.exists()


def test_a_written_directory_has_ordinary_permissions(tmp_path):
    with atomic_dir(tmp_path / "model") as tmp:
        (tmp / "config.json").write_text("{}")
    assert stat.S_IMODE((tmp_path / "model").stat().st_mode) == 0o777 & ~UMASK


# --- the commands --------------------------------------------------------------------------------------


def test_train_into_a_folder_of_user_files_is_refused_and_the_files_survive_later_writes(class_dataset, tmp_path):
    """The issue's repro: the folder was deleted (and a file renamed, then swept) with exit status 0."""
    users = _user_folder(tmp_path)
    assert_one_line_error(run("train", class_dataset, "--model", "frame", "--epochs", "1", "--out", users),
                          f"{users}: holds t.txt, not a model directory")
    single = tmp_path / "file.txt"
    single.write_text("mine")
    assert_one_line_error(run("train", class_dataset, "--model", "frame", "--epochs", "1", "--out", single),
                          f"{single}: exists and is a file")
    assert_one_line_error(run("train", class_dataset, "--model", "frame", "--out", class_dataset),
                          f"{class_dataset}: is the dataset {class_dataset} itself")
    assert not (class_dataset / ".cache").exists()  # refused before any embedding

    # A model written next to them: the sweep of this folder leaves every user file alone.
    model = tmp_path / "m"
    result = run("train", class_dataset, "--model", "frame", "--epochs", "1", "--out", model)
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(model.stat().st_mode) == 0o777 & ~UMASK  # was 0700
    result = run("train", class_dataset, "--model", "frame", "--epochs", "1", "--out", model)
    assert_one_line_error(result, f"{model}: holds a model directory already; pass --overwrite")
    before = (model / "config.json").read_text()
    result = run("train", class_dataset, "--model", "frame", "--epochs", "1", "--seed", "1", "--out", model, "--overwrite")
    assert result.exit_code == 0, result.output
    assert (model / "config.json").read_text() != before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["classes", "file.txt", "m", "u"]
    assert [p.name for p in users.iterdir()] == ["t.txt"] and single.read_text() == "mine"
    assert leftover_temp_files(tmp_path) == []


def test_every_writing_command_refuses_a_file_or_a_foreign_folder_before_any_work(class_dataset, tmp_path):
    file = tmp_path / "file.txt"
    file.write_text("mine")
    users = _user_folder(tmp_path)
    model = tmp_path / "model"  # a model directory: not a dataset to record into
    _model_dir(model)
    commands = {
        "train": ["train", class_dataset, "--model", "frame", "--out"],
        "evaluate": ["evaluate", class_dataset, "--out"],
        "augment": ["augment", class_dataset, "--out"],
        "synth": ["synth"],
        "demo": ["demo", "--quick", "--out"],
        "export": ["export"],
        "record": ["record", "--person", "a", "--moves", "punch/jab", "--source", PUNCH_AVI],
    }
    for name, args in commands.items():
        for target, text in ((file, "exists and is a file, not a folder"), (users, "holds t.txt, not a")):
            if name == "record":
                result = run("record", target, *args[1:])
            else:
                result = run(*args, target)
            assert_one_line_error(result, f"{target}: {text}")
    assert_one_line_error(run(*commands["record"][:1], model, *commands["record"][1:]),
                          f"{model}: holds a model directory, not a dataset")
    assert file.read_text() == "mine" and [p.name for p in users.iterdir()] == ["t.txt"]
    assert sorted(p.name for p in model.iterdir()) == ["config.json", "model.keras"]
    assert not (class_dataset / ".cache").exists()  # nothing was embedded: refused before any work


def test_read_only_out_is_refused_before_any_work(class_dataset, annotated_dataset, mount):
    ro = mount("ro", "ro")
    assert_one_line_error(run("train", class_dataset, "--model", "frame", "--out", ro / "m"),
                          f"{ro / 'm'}: cannot write in {ro}: read-only file system")
    assert_one_line_error(run("evaluate", annotated_dataset, "--folds", "2", "--out", ro / "r"),
                          f"{ro / 'r'}: cannot write in {ro}: read-only file system")
    assert_one_line_error(run("synth", ro / "s"), "read-only file system")
    assert not (class_dataset / ".cache").exists() and not (annotated_dataset / ".cache").exists()


def test_a_full_disk_is_one_line_naming_the_output_and_leaves_nothing_behind(class_dataset, mount):
    full = mount("full", "size=64k")  # the claim passes (it can write); the 12 MB model.keras cannot
    result = run("train", class_dataset, "--model", "frame", "--epochs", "1", "--out", full / "m")
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("error: ")]  # after the progress lines
    assert errors == [result.stderr.splitlines()[-1]], result.stderr
    assert errors[0] == f"error: {full / 'm'}: cannot write: the disk is full (no space left on device)"
    assert list(full.iterdir()) == []


def test_any_os_error_reaching_the_cli_is_one_line(mount):
    """What the library did not name itself (a bug's OSError, say) still prints as one line, with the path."""
    import typer
    from typer.testing import CliRunner

    from actionrec.cli import command

    ro = mount("ro", "ro")
    app = typer.Typer()

    @app.command()
    @command
    def write():
        open(ro / "x.txt", "w")

    result = CliRunner().invoke(app, [])
    assert_one_line_error(result, f"{ro / 'x.txt'}: read-only file system")


def test_outputs_module_lists_every_kind_it_recognises():
    assert {k.noun for k in outputs._KNOWN} == {k.noun for k in KINDS}


def test_score_and_evaluate_reports_are_each_their_own_and_refuse_the_other(tmp_path):
    """Both write report.json; a score over an evaluation (or back) replaced the other's summary."""
    evaluation, score = tmp_path / "evaluation", tmp_path / "score"
    for folder, extra in ((evaluation, {"groups_per_fold": []}), (score, {"not_in_model": {}})):
        folder.mkdir()
        (folder / "report.json").write_text(json.dumps({"classes": ["a"], "folds": 0, "models": {}, **extra}))
    claim_output(evaluation, REPORT), claim_output(score, SCORE)
    with pytest.raises(ActionrecError, match=f"^{score}: holds a score report folder, not an evaluation report folder"):
        claim_output(score, REPORT)
    with pytest.raises(ActionrecError, match=f"^{evaluation}: holds an evaluation report folder, not a score report"):
        claim_output(evaluation, SCORE)


def test_an_evaluation_of_several_sizes_killed_before_its_report_is_taken_back(tmp_path):
    report = tmp_path / "r"  # killed while drawing the first size's plots
    (report / "folds").mkdir(parents=True)
    (report / "folds" / "fold0-0123456789abcdef.npz").write_bytes(b"")
    (report / "100x56").mkdir()
    (report / "100x56" / "report.json").write_text('{"classes": ["a"], "folds": 2, "models": {}}')
    (report / "100x56" / f".confusion.png.{_dead_pid()}.ab12cd34.actionrec-tmp.png").write_bytes(b"")
    claim_output(report, REPORT)
    (report / "notes").mkdir()  # anything else: not an evaluation's
    with pytest.raises(ActionrecError, match="not an evaluation report folder"):
        claim_output(report, REPORT)


def test_a_folder_of_photo_albums_is_not_a_dataset_to_record_into(tmp_path):
    albums = tmp_path / "albums"
    (albums / "2019_paris").mkdir(parents=True)
    (albums / "2019_paris" / "a.jpg").write_bytes(b"jpg")
    with pytest.raises(ActionrecError, match=f"^{albums}: holds 2019_paris, not a dataset"):
        claim_output(albums, DATASET)
    assert (albums / "2019_paris" / "a.jpg").read_bytes() == b"jpg"
    mine = tmp_path / "mine"  # label folders of clips, a fine label and a frame folder: a dataset
    for clip in ("punch/a.mp4", "kick/front/b.mp4", "kick/c/000.jpg", "other/d.kp.npz"):
        (mine / clip).parent.mkdir(parents=True, exist_ok=True)
        (mine / clip).write_bytes(b"")
    claim_output(mine, DATASET)


def test_a_model_out_that_is_a_link_replaces_the_folder_it_points_to_and_keeps_the_link(tmp_path):
    target = _model_dir(tmp_path / "models" / "m")
    link = tmp_path / "m-link"
    link.symlink_to(target)
    claim_output(link, MODEL, overwrite=True)
    with atomic_dir(link) as tmp:
        (tmp / "config.json").write_text("new")
    assert link.is_symlink() and (target / "config.json").read_text() == "new"
    assert sorted(p.name for p in target.parent.iterdir()) == ["m"]
