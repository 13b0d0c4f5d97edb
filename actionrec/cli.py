"""The ``actionrec`` command: a thin Typer layer over the library.

Each command parses options into the library's option objects, calls one library function, and prints.
``ActionrecError`` becomes one line on stderr and exit status 2.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
import warnings
from pathlib import Path
from typing import Optional

import typer
import typer.core

# Before OpenCV loads: its own log and FFmpeg's complaints about a broken file ("moov atom not found",
# "ac-tex damaged") printed above the one line the command gives for that file.
os.environ.setdefault("OPENCV_LOG_LEVEL", "OFF")
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET

from actionrec.chatter import quiet_tensorflow_startup
from actionrec.data.video import FrameSpec
from actionrec.errors import ActionrecError, from_os_error
from actionrec.events.trigger import DEFAULT_ENTER, DEFAULT_MIN_FRAMES, EXIT_GAP, TriggerOptions
from actionrec.learn.evaluate import TRAIN_STRIDE, EvaluateOptions
from actionrec.learn.models import LSTMOptions, TrainOptions
from actionrec.learn.train import FINETUNE_BATCH, FINETUNE_LEARNING_RATE
from actionrec.live.game import LiveOptions
from actionrec.live.record.plan import RecordOptions
from actionrec.synth.options import RenderOptions, SynthConfig, webcam_options

class OneLineUsage(typer.core.TyperGroup):
    """Click's usage errors (a missing argument, a value of the wrong type, an unknown command or option) as
    one line, like every other bad input, instead of a usage block and a boxed message."""

    def make_context(self, *args, **kwargs):
        with one_line_usage():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx):  # a subcommand's arguments are parsed in here
        with one_line_usage():
            return super().invoke(ctx)


def click_exceptions(*names: str) -> tuple[type, ...]:
    """Click's exception classes of these names: Typer >= 0.22 raises those of its own copy of Click, earlier
    ones Click's."""
    import importlib

    found = []
    for name in ("typer._click.exceptions", "click.exceptions"):
        with contextlib.suppress(ImportError):
            module = importlib.import_module(name)
            found += [getattr(module, n) for n in names if hasattr(module, n)]
    return tuple(found)


@contextlib.contextmanager
def one_line_usage():
    try:
        yield
    except click_exceptions("UsageError") as exc:
        if isinstance(exc, click_exceptions("NoArgsIsHelpError")):
            raise  # prints the help, as asked for
        where = exc.ctx.command_path if exc.ctx is not None else "actionrec"
        typer.secho(f"error: {exc.format_message()} (see {where} --help)", fg="red", err=True)
        raise typer.Exit(exc.exit_code) from None


app = typer.Typer(cls=OneLineUsage, add_completion=False, no_args_is_help=True, help="Recognize fighting moves in video and play MK.js with them.")
bench_app = typer.Typer(no_args_is_help=False, invoke_without_command=True, help="Benchmarks that print figures (medians after warm-up). Without a subcommand: every stage in one run.")
app.add_typer(bench_app, name="bench")

WEIGHTS_HELP = "MobileNet weights .h5 (default: $ACTIONREC_MOBILENET_WEIGHTS, then Keras' cache/download)"


RESUMES = "interrupted; finished work is saved and a rerun resumes"


def command(fn=None, *, interrupted: str = "interrupted"):
    """Turn ActionrecError, and any file-system error (disk full, read-only, permission), into one line;
    quiet TensorFlow's start-up chatter. ``interrupted`` is what Ctrl-C prints: only what is true of the
    command (``RESUMES`` for those that resume)."""
    if fn is None:
        return functools.partial(command, interrupted=interrupted)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # the warnings after start-up
        quiet_tensorflow_startup()  # the lines before it, which that variable does not reach
        try:
            with warnings.catch_warnings():  # one "warning:" line, not Python's file:line and source line
                warnings.showwarning = lambda message, *_, **__: typer.secho(f"warning: {message}", err=True)
                return fn(*args, **kwargs)
        except ActionrecError as exc:
            typer.secho(f"error: {exc}", fg="red", err=True)
            raise typer.Exit(2) from None
        except OSError as exc:  # the library names the path where it can; else the OS's path and reason
            typer.secho(f"error: {from_os_error(exc)}", fg="red", err=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            typer.secho(interrupted, err=True)
            raise typer.Exit(130) from None

    return wrapper


def at_least(low: float, **options: float) -> None:
    """One line for an option below its floor (or not a number): ``at_least(1, batch_size=0)``."""
    for name, value in options.items():
        if not value >= low:  # nan too
            raise ActionrecError(f"--{name.replace('_', '-')} {value}: expected "
                                 f"{'a number' if isinstance(low, float) else 'a whole number'} >= {low:g}")


def frame_spec(fps: float, size: str, grayscale: bool):
    try:
        w, h = (int(v) for v in size.lower().split("x"))
    except ValueError:
        raise ActionrecError(f"--size {size!r}: expected WIDTHxHEIGHT, e.g. 100x56") from None
    return FrameSpec(fps=fps, width=w, height=h, grayscale=grayscale)


FPS = typer.Option(FrameSpec.fps, help="Resample clips to this frame rate (the article: every 100 ms)")
SIZE = typer.Option(f"{FrameSpec.width}x{FrameSpec.height}", help="Model input WIDTHxHEIGHT (the article: 100x56)")
GRAY = typer.Option(False, "--grayscale", help="Gray frames replicated to 3 channels (the article's browser path)")
CACHE = typer.Option(None, help="Embedding cache folder (default: DATASET/.cache/embeddings)")
WEIGHTS = typer.Option(None, help=WEIGHTS_HELP)
BACKEND = typer.Option("auto", help="auto (the TFLite export when present, else Keras), litert or keras")
RAY_ADDRESS = typer.Option(None, help="The Ray cluster to join, e.g. HOST:6379 or auto (implies --ray)")
RAY_SHARED = typer.Option(False, "--ray-shared-storage", help="The dataset and cache are at the same path on every "
                          "Ray node: workers write the cache themselves, and pose and diff features go to Ray too (implies --ray)")
THREADS = typer.Option(1, help="LiteRT threads (1 leaves the other core to the camera thread)")
# The trigger's two knobs (events/trigger.py, TriggerOptions.at), with TriggerOptions()'s defaults.
ENTER = typer.Option(DEFAULT_ENTER, help=f"Probability a punch or kick must reach to fire (released {EXIT_GAP:g} below it)")
MIN_FRAMES = typer.Option(DEFAULT_MIN_FRAMES, help="The model's frames in a row it must hold first, at any camera rate "
                                  "(2: 0.1 s sooner, a half more false moves on real people; README, Live play)")
FEATURES_HELP = ("Per-frame features: mobilenet (the article's), pose (BlazePose keypoints), diff (MobileNet on frame "
                 "differences: motion), or parts joined with +, e.g. mobilenet+diff (both = mobilenet+pose); :body after "
                 "a kind with pose (pose:body) sees only the x, y of the 17 joints every pose source has")
FEATURES = typer.Option(None, help=FEATURES_HELP + " (default: mobilenet+diff; mobilenet with --finetune or --article)",
                        show_default=False)

# The LSTM's regularizers. Left out, each follows the training data (learn/regularization.py): below 2000
# window positions every group trains every epoch; the rest stay off, as they moved survfight-dev less than
# its seeds do. Given, a value holds whatever the data.
EARLY_STOPPING = typer.Option(None, "--early-stopping/--no-early-stopping", show_default=False,
                              help="Hold out 20 % of the groups and keep the best epoch on them, or train every epoch on "
                                   "every group (default: from the data, off below 2000 window positions)")
WEIGHT_DECAY = typer.Option(None, help="AdamW's decoupled weight decay, e.g. 0.1 (default: 0, plain Adam)", show_default=False)
SCHEDULE = typer.Option(None, help="Learning rate: constant, cosine or plateau (default: constant)", show_default=False)
LABEL_SMOOTHING = typer.Option(None, help="Label smoothing, e.g. 0.1 (default: 0)", show_default=False)
TEMPORAL = typer.Option(None, "--temporal-augment/--no-temporal-augment", show_default=False,
                        help="Vary training windows: shifted 2 frames either way, 0.8-1.25x speed, 10 % of frames dropped (default: off)")
PROJECTION = typer.Option(None, help="Units of the per-frame Dense before the LSTM, 0 for none (default: 128)", show_default=False)
INPUT_DROPOUT = typer.Option(None, help="Dropout on every input feature of every frame (default: 0.5)", show_default=False)
DROPOUT = typer.Option(None, help="Dropout on the LSTM's output (default: 0.5)", show_default=False)
MEMBERS = typer.Option(None, help="LSTMs trained side by side whose probabilities are averaged, in one model "
                                  "(default: 3 below 2000 window positions, where they made real data depend less "
                                  "on the seed; else 1)", show_default=False)
WINDOW_MEAN = typer.Option(None, "--window-mean/--no-window-mean", show_default=False,
                           help="Give the LSTM's output layer the mean of the window's frames too (default: on below "
                                "2000 window positions, where it made real data score higher; else off)")
ALSO = typer.Option([], "--also", help="Another dataset to train on too, repeatable (evaluate never tests on it), e.g. "
                    "runs/demo/starter-synth: the starter's synthetic people beside your recordings (--features pose:body)")
OWN_SHARE = typer.Option(None, help="With --also: the least share of training windows that are DATASET's own, its windows "
                                    f"repeated to reach it (default: {TrainOptions.own_share:g}; 0: as they come)", show_default=False)


def own_share_with(own_share: float | None, also: list[Path]) -> float | None:
    if own_share is not None and not also:
        raise ActionrecError(f"--own-share {own_share} without --also: it weighs DATASET against the added data; "
                             "expected --also DATASET2 too")
    return own_share


def fixed_regularizers(**given):
    from actionrec.learn.regularization import fixed_by_user

    return fixed_by_user(**given)


def feature_spec(kind: str | None, finetune: int = 0, article: bool = False, augment: int = 0):
    """``--features``, or the default features when it is left out (``default_features``); with ``--augment``
    pose features are refused here, before the embedding."""
    from actionrec.features.spec import FeatureSpec, check_augment_features, default_features

    spec = FeatureSpec.parse(kind) if kind else default_features(finetune, article)
    if augment:
        check_augment_features(spec, augment)
    return spec


@app.command()
@command
def inspect(dataset: Path, background: str = typer.Option("other", help="Label of frames outside every annotated segment")):
    """Print classes, clips, frames, duration, fps and groups; list every problem found."""
    from actionrec.data.datasets import inspect as run

    report = run(dataset, background=background)
    typer.echo(f"dataset {dataset}: {report.clips} clips, {report.frames} frames, {report.seconds:.1f} s")
    typer.echo(f"{'label':<24}{'clips':>7}{'frames':>9}{'seconds':>10}")
    for row in report.rows:
        typer.echo(f"{row['label']:<24}{row['clips']:>7}{row['frames']:>9}{row['seconds']:>10.1f}")
    rates = ", ".join(f"{r:g}" for r in report.fps) or "-"
    typer.echo(f"fps: {rates}")
    typer.echo(f"groups ({len(report.groups)}): " + ", ".join(f"{g} ({n})" for g, n in sorted(report.groups.items())))
    if report.warnings:
        typer.secho(f"{len(report.warnings)} warning(s):", fg="yellow", err=True)
        for w in report.warnings:
            typer.secho(f"  - {w}", err=True)
    if report.problems:
        typer.secho(f"{len(report.problems)} problem(s):", fg="red", err=True)
        for p in report.problems:
            typer.secho(f"  - {p}", err=True)
        raise typer.Exit(1)
    typer.echo("no problems found")


@app.command()
@command(interrupted=RESUMES)
def embed(dataset: Path, fps: float = FPS, size: str = SIZE, grayscale: bool = GRAY, cache: Optional[Path] = CACHE, weights: Optional[Path] = WEIGHTS,
          features: Optional[str] = FEATURES,
          ray: bool = typer.Option(False, "--ray", help="Spread clips over a Ray cluster (a local one unless "
                                                        "--ray-address); needs the optional ray extra"),
          ray_address: Optional[str] = RAY_ADDRESS, ray_shared_storage: bool = RAY_SHARED):
    """Embed every frame of every clip (MobileNet, pose, diff or several), cached per clip (a killed run resumes)."""
    from actionrec.data.datasets import load_dataset
    from actionrec.data.video import probe
    from actionrec.features.cache import default_cache_dir
    from actionrec.features.frames import features_dataset
    from actionrec.util.progress import Progress

    ds = load_dataset(dataset)
    spec = frame_spec(fps, size, grayscale)
    feats = feature_spec(features)
    total = sum(_expected_frames(probe(c.path), spec.fps) for c in ds.clips) * len(feats.parts)
    ray_options = _ray_options(ray, ray_address, ray_shared_storage)
    cache = cache or default_cache_dir(dataset)
    bar = Progress("embed", total=total)
    if ray_options is not None:
        from actionrec.features.distributed import embed_features_ray

        if not ray_options.shared_storage:  # the workers embed MobileNet's part alone
            bar.total = total // len(feats.parts)

        def clips_done(done: int, n: int) -> None:
            bar.label = f"embed on Ray ({done}/{n} clips)"

        counts = embed_features_ray(ds.clips, spec, feats, cache, weights, ray_options, progress=bar, on_clip=clips_done)
    if ray_options is None or (not ray_options.shared_storage and feats.parts != ("mobilenet",)):
        # The parts Ray could not store (pose, diff without shared storage) are computed here; cached ones are read.
        if ray_options is not None:
            bar.close()
            bar = Progress("embed", total=total)
        out = features_dataset(ds.clips, spec, feats, cache, weights=weights, progress=bar)
        counts = {cid: len(e.times) for cid, e in out.items()}
    bar.close()
    typer.echo(f"{len(counts)} clips, {sum(counts.values())} frames embedded or cached")


def _ray_options(ray: bool, address: str | None, shared_storage: bool):
    """RayOptions when a --ray option was given, else None; checks that the extra is installed."""
    if not ray and address is None and not shared_storage:
        return None
    from actionrec.util.ray_cluster import RayOptions, import_ray

    import_ray()  # without the extra: one line, before any work
    return RayOptions(address=address, shared_storage=shared_storage)


def _ray_joined(options):
    if options is None:
        return contextlib.nullcontext()
    from actionrec.util.ray_cluster import joined

    return joined(options)


def _expected_frames(info, fps: float) -> int:
    return info.frames if fps <= 0 or fps >= info.fps else int(info.duration * fps + 0.999)


@app.command()
@command(interrupted="interrupted; no model was written, and a rerun trains from the start (embeddings made so far are cached)")
def train(
    dataset: Path,
    model: str = typer.Option("lstm", help="frame (the article's baseline) or lstm"),
    out: Path = typer.Option(..., help="Model directory to write, e.g. models/NAME"),
    overwrite: bool = typer.Option(False, help="Replace the model directory already at --out (nothing else is ever replaced)"),
    window: int = typer.Option(LSTMOptions.window, help="LSTM window: frames at the model rate"),
    stride: int = typer.Option(LSTMOptions.stride, help="Step between training windows"),
    label_policy: str = typer.Option(LSTMOptions.label_policy, help="Window label for annotated videos: last, center or majority"),
    epochs: int = typer.Option(TrainOptions.epochs, help="Epochs: all of them on small data, at most this many with early stopping (see --early-stopping)"),
    learning_rate: Optional[float] = typer.Option(None, help=f"Adam learning rate (default {TrainOptions.learning_rate:g}; "
                                                  f"{FINETUNE_LEARNING_RATE:g} with --finetune)"),
    article: bool = typer.Option(False, help="Frame model with the article's settings: Adam(1e-6), 500 epochs, no dropout or class weights"),
    augment: int = typer.Option(0, help="Augmented copies per training clip, made on the fly and cached"),
    finetune: int = typer.Option(0, help="Train the top K of MobileNet's 13 blocks with the model, on decoded frames "
                                 f"(cached), {FINETUNE_BATCH} windows a step; the model keeps its tuned MobileNet (0: frozen)"),
    seed: int = typer.Option(0, help="Seed for every random step"),
    fps: float = FPS,
    size: str = SIZE,
    grayscale: bool = GRAY,
    cache: Optional[Path] = CACHE,
    weights: Optional[Path] = WEIGHTS,
    features: Optional[str] = FEATURES,
    early_stopping: Optional[bool] = EARLY_STOPPING,
    weight_decay: Optional[float] = WEIGHT_DECAY,
    schedule: Optional[str] = SCHEDULE,
    label_smoothing: Optional[float] = LABEL_SMOOTHING,
    temporal_augment: Optional[bool] = TEMPORAL,
    projection: Optional[int] = PROJECTION,
    input_dropout: Optional[float] = INPUT_DROPOUT,
    dropout: Optional[float] = DROPOUT,
    members: Optional[int] = MEMBERS,
    window_mean: Optional[bool] = WINDOW_MEAN,
    also: list[Path] = ALSO,
    own_share: Optional[float] = OWN_SHARE,
):
    """Train the frame baseline or the LSTM on a dataset and write a model directory."""
    from actionrec.learn.train import TrainSpec, train_on_dataset

    fixed = fixed_regularizers(early_stopping=early_stopping, weight_decay=weight_decay, schedule=schedule,
                               label_smoothing=label_smoothing, temporal=temporal_augment, projection=projection,
                               input_dropout=input_dropout, dropout=dropout, members=members,
                               window_mean=window_mean)
    spec = TrainSpec.from_cli(
        model=model, window=window, stride=stride, label_policy=label_policy, epochs=epochs,
        learning_rate=learning_rate, article=article, augment=augment, seed=seed, finetune=finetune, fixed=fixed,
        own_share=own_share_with(own_share, also),
    )
    trained = train_on_dataset(
        dataset, spec, frame_spec(fps, size, grayscale), cache_dir=cache, weights=weights, out=out,
        # Keras' live bar on a terminal; one line per epoch into a file or pipe (the bar redraws every step
        # with \r, and a log of a 60-epoch run held megabytes of them).
        verbose=1 if sys.stdout.isatty() else 2,
        overwrite=overwrite, features=feature_spec(features, finetune, article, augment), also=also,
    )
    typer.echo(
        f"wrote {out}: {trained.kind} model, classes {', '.join(trained.classes)}; "
        f"{trained.config['epochs_run']} epochs, {trained.config['train_windows']} training windows"
        + (f" ({dataset.name}'s windows each {trained.config['own_repeat']} times: --own-share)" if trained.config.get("own_repeat", 1) > 1 else "")
        + (f"; MobileNet's top {trained.finetune} blocks tuned, kept in {out}/backbone.keras" if trained.finetune else "")
    )


@app.command()
@command
def predict(model: Path, clip: Path, weights: Optional[Path] = WEIGHTS, as_json: bool = typer.Option(False, "--json", help="Print JSON lines"),
            features: Optional[str] = typer.Option(None, help="mobilenet, pose, diff or parts joined with + (default: the model's; another is refused)")):
    """Print the predicted class and probabilities for every frame of a clip."""
    from actionrec.learn.train import predict_clip

    result = predict_clip(model, clip, weights=weights, features=feature_spec(features) if features else None)
    classes = result.classes
    if not as_json:
        typer.echo(f"{'time':>7}  {'class':<18}" + "".join(f"{c:>16}" for c in classes))
    for t, probs in zip(result.times, result.proba):
        best = classes[int(probs.argmax())]
        if as_json:
            typer.echo(json.dumps({"time": round(float(t), 3), "class": best, "proba": {c: round(float(p), 4) for c, p in zip(classes, probs)}}))
        else:
            typer.echo(f"{t:7.2f}  {best:<18}" + "".join(f"{p:16.3f}" for p in probs))
    if result.warmup:
        typer.echo(f"(first {result.warmup} frames: the window is not full yet; earlier frames are repeated)", err=True)


@app.command()
@command(interrupted=RESUMES)
def evaluate(
    dataset: Path,
    folds: int = typer.Option(EvaluateOptions.folds, help="Grouped stratified folds: no person is in training and test at once"),
    out: Path = typer.Option(..., help="Report folder, e.g. reports/NAME"),
    window: int = typer.Option(LSTMOptions.window, help="LSTM window: frames at the model rate"),
    stride: int = typer.Option(TRAIN_STRIDE, help="Step between training windows"),
    label_policy: str = typer.Option(LSTMOptions.label_policy, help="Window label for annotated videos: last, center or majority"),
    epochs: int = typer.Option(TrainOptions.epochs, help="Epochs per model and fold: all of them for a small-data LSTM, at most this many with early stopping"),
    augment: int = typer.Option(0, help="Augmented copies of each training clip (test folds are never augmented)"),
    finetune: int = typer.Option(0, help="The LSTM trains the top K of MobileNet's 13 blocks too, as train --finetune "
                                 "does (the frame baselines stay on frozen MobileNet features)"),
    seed: int = typer.Option(0, help="Seed for folds, initialization and augmentation"),
    fps: float = FPS,
    size: str = typer.Option(f"{FrameSpec.width}x{FrameSpec.height}", help="Model input WIDTHxHEIGHT, or a list (100x56,224x224) "
                             "to compare sizes in one report: people small in the frame need more pixels"),
    grayscale: bool = GRAY,
    cache: Optional[Path] = CACHE,
    weights: Optional[Path] = WEIGHTS,
    features: Optional[str] = FEATURES,
    ray: bool = typer.Option(False, "--ray", help="Run the folds as Ray tasks, and embed uncached clips on Ray "
                                                  "(a local cluster unless --ray-address); needs the optional ray extra"),
    ray_address: Optional[str] = RAY_ADDRESS,
    ray_shared_storage: bool = RAY_SHARED,
    early_stopping: Optional[bool] = EARLY_STOPPING,
    weight_decay: Optional[float] = WEIGHT_DECAY,
    schedule: Optional[str] = SCHEDULE,
    label_smoothing: Optional[float] = LABEL_SMOOTHING,
    temporal_augment: Optional[bool] = TEMPORAL,
    projection: Optional[int] = PROJECTION,
    input_dropout: Optional[float] = INPUT_DROPOUT,
    dropout: Optional[float] = DROPOUT,
    members: Optional[int] = MEMBERS,
    window_mean: Optional[bool] = WINDOW_MEAN,
    also: list[Path] = ALSO,
    own_share: Optional[float] = OWN_SHARE,
):
    """Frame baseline vs LSTM on people the model never saw: report.json, report.md and plots.

    The regularization options set the LSTM's; the frame baselines keep the article model's."""
    from actionrec.learn.evaluate import evaluate as run
    from actionrec.learn.evaluate import evaluate_options
    from actionrec.learn.report import format_table
    from actionrec.learn.embedded import embed_dataset_dir
    from actionrec.util.outputs import REPORT, claim_output

    fixed = fixed_regularizers(early_stopping=early_stopping, weight_decay=weight_decay, schedule=schedule,
                               label_smoothing=label_smoothing, temporal=temporal_augment, projection=projection,
                               input_dropout=input_dropout, dropout=dropout, members=members,
                               window_mean=window_mean)
    options = evaluate_options(folds=folds, window=window, stride=stride, label_policy=label_policy, epochs=epochs,
                               augment=augment, seed=seed, finetune=finetune, fixed=fixed,
                               own_share=own_share_with(own_share, also))
    feats = feature_spec(features, finetune, augment=augment)
    ray_options = _ray_options(ray, ray_address, ray_shared_storage)
    if finetune and ("," in size or ray_options is not None or also):
        raise ActionrecError("evaluate --finetune with a --size list, --ray or --also: not supported; expected one size "
                             "and one dataset, here")
    claim_output(out, REPORT, inputs=[dataset, *also])  # before embedding; evaluate checks again before the first fold
    with _ray_joined(ray_options):  # one cluster for the embedding and the folds
        if "," in size:
            from actionrec.learn.sizes import evaluate_sizes, format_comparison, parse_sizes

            comparison = evaluate_sizes(dataset, parse_sizes(size, FrameSpec(fps=fps, grayscale=grayscale)), out, options,
                                        cache, weights, log=typer.echo, features=feats, ray=ray_options, also=also)
            typer.echo("\n" + format_comparison(comparison))
            typer.echo(f"\nwrote {out}/report.json and report.md (one report per size in {out}/WxH/)")
            return
        spec = frame_spec(fps, size, grayscale)
        frames = None
        if finetune:  # checks the features and decodes (cached) before the long embedding
            from actionrec.learn.embedded import frames_dataset_dir

            frames = frames_dataset_dir(dataset, spec, cache, weights, features=feats)
        data = embed_dataset_dir(dataset, spec, cache, weights, features=feats, ray=ray_options, also=also)
        report = run(data, out, options, log=typer.echo, ray=ray_options, frames=frames)
    typer.echo("")
    typer.echo(format_table(report))
    typer.echo(f"\nwrote {out}/report.json, report.md and plots")


@app.command()
@command(interrupted=RESUMES)
def augment(
    dataset: Path,
    out: Path = typer.Option(..., help="Folder for the augmented dataset (outside DATASET)"),
    copies: int = typer.Option(16, help="Augmented copies per clip (the article: 16)"),
    seed: int = typer.Option(0, help="Same seed, same augmented data"),
    recipe: str = typer.Option("article", help="article, FILE.py:FUNCTION or MODULE:FUNCTION returning an imgaug augmenter"),
    flip_pair: list[str] = typer.Option([], help="Extra label pair swapped by horizontal flips, A=B (left/right pairs are found automatically)"),
    flip_prob: float = typer.Option(0.5, help="Probability of a horizontal flip per copy"),
    noise: float = typer.Option(0.0, help="Per-frame Gaussian noise sigma on top of the clip's transform"),
    originals: bool = typer.Option(True, help="Also copy each original clip into OUT, so OUT trains on its own"),
    fps: float = FPS,
    size: str = SIZE,
    grayscale: bool = GRAY,
):
    """Write augmented copies of every clip (one transform per clip) plus preview.png; a killed run resumes."""
    from actionrec.data.augment import augment_dataset
    from actionrec.data.datasets import load_dataset
    from actionrec.data.recipe import load_recipe, parse_flip_pairs
    from actionrec.util.outputs import AUGMENT, claim_output
    from actionrec.util.progress import Progress

    claim_output(out, AUGMENT, inputs=[dataset])
    ds = load_dataset(dataset)
    bar = Progress("augment", total=len(ds.clips) * (copies + int(originals)), unit="clips")
    summary = augment_dataset(
        dataset, out, copies=copies, seed=seed, augmenter=load_recipe(recipe), recipe_name=recipe,
        flip_pairs=parse_flip_pairs(flip_pair), flip_probability=flip_prob, noise_sigma=noise,
        spec=frame_spec(fps, size, grayscale), originals=originals, progress=bar,
    )
    bar.close()
    typer.echo(f"{summary.written} clips written, {summary.skipped} already there, {summary.flipped} flipped")
    if summary.flip_pairs:
        typer.echo("flip pairs: " + ", ".join(f"{a}<->{b}" for a, b in summary.flip_pairs))
    if summary.unflippable:
        typer.echo("never flipped (sided, no partner): " + ", ".join(summary.unflippable))
    typer.echo(f"preview: {out / 'preview.png'}")


@bench_app.callback()
@command
def bench(
    ctx: typer.Context,
    json_path: Optional[Path] = typer.Option(None, "--json", help="Also write the figures to this JSON file"),
    seconds: float = typer.Option(20.0, help="Measuring time for the embed comparison"),
    weights: Optional[Path] = WEIGHTS,
):
    """Every stage in one process and one run: decode, embed vs raw model, augment, LSTM step, stream step, memory."""
    at_least(0.0, seconds=seconds)
    if ctx.invoked_subcommand is not None:
        if json_path is not None:
            raise ActionrecError(f"--json {json_path}: writes the whole suite's figures (bench with no subcommand); "
                                 f"bench {ctx.invoked_subcommand} prints its JSON, expected a redirect instead")
        return
    from actionrec.tools.bench.suite import JSON_MARK, bench_all, check_json_output, format_table
    from actionrec.util.atomic import write_json

    if json_path:
        check_json_output(json_path)
    results = bench_all(seconds=seconds, weights=weights, log=lambda m: typer.echo(m, err=True))
    typer.echo(format_table(results))
    if json_path:
        write_json(json_path, {JSON_MARK: 1, **results})
        typer.echo(f"wrote {json_path}")


@bench_app.command("pose")
@command
def bench_pose_cmd(
    video: Path = typer.Argument(..., help="Video to run the pose step on (played in a loop, decoded up front)"),
    seconds: float = typer.Option(10.0, help="Measuring time of the step (each model alone: half as long)"),
):
    """The live pose step on one thread as JSON: step_ms_p50 and p95 (tracking and detector re-runs counted), each model alone."""
    from actionrec.features.pose.bench import bench_pose

    typer.echo(json.dumps(bench_pose(video, seconds), indent=2))


@bench_app.command("embed")
@command
def bench_embed_cmd(
    fps: float = FPS,
    size: str = SIZE,
    grayscale: bool = GRAY,
    batch_size: int = typer.Option(32, help="Frames per model call"),
    seconds: float = typer.Option(20.0, help="Measuring time, split between the two paths"),
    video: Optional[Path] = typer.Option(None, help="Video to decode (default: a synthetic 30 fps 320x240 clip)"),
    weights: Optional[Path] = WEIGHTS,
    # MobileNet alone by default: the figures in the README's Speed section are its.
    features: str = typer.Option("mobilenet", help=FEATURES_HELP),
    ray: bool = typer.Option(False, "--ray", help="Instead: one process next to a local Ray cluster of 1 and 2 workers "
                                                 "(needs the optional ray extra)"),
):
    """Frames/s of the full path (decode, resample, resize, features) next to the models alone."""
    at_least(1, batch_size=batch_size)
    at_least(0.0, seconds=seconds)
    spec = feature_spec(features)
    if ray:
        if spec.kind != "mobilenet":
            raise ActionrecError(f"--features {spec.kind} --ray: the Ray comparison embeds MobileNet features only")
        from actionrec.tools.bench.ray_embed import bench_embed_ray

        typer.echo(json.dumps(bench_embed_ray(frame_spec(fps, size, grayscale), weights=weights), indent=2))
        return
    from actionrec.tools.bench.embed import bench_embed

    r = bench_embed(frame_spec(fps, size, grayscale), batch_size=batch_size, seconds=seconds, weights=weights, video=video,
                    features=spec)
    typer.echo(json.dumps(r, indent=2))


@bench_app.command("train")
@command
def bench_train_cmd(
    finetune: list[int] = typer.Option([0, 2, 4], help="MobileNet blocks tuned (repeatable); 0: the LSTM on cached embeddings"),
    size: str = SIZE,
    window: int = typer.Option(LSTMOptions.window, help="LSTM window: frames at the model rate"),
    windows: int = typer.Option(256, help="Windows per timed epoch"),
    epochs: int = typer.Option(3, help="Timed epochs per K (the median is printed), after one warm-up epoch"),
    weights: Optional[Path] = WEIGHTS,
):
    """Seconds per training epoch and ms per window of the LSTM, for each --finetune K, as JSON."""
    from actionrec.tools.bench.train import bench_finetune_epoch

    at_least(1, window=window, windows=windows, epochs=epochs)

    r = bench_finetune_epoch(tuple(finetune), frame_spec(FrameSpec.fps, size, False), window=window, windows=windows,
                             weights=weights, epochs=epochs)
    typer.echo(json.dumps(r, indent=2))


@bench_app.command("augment")
@command
def bench_augment_cmd(
    frames: int = typer.Option(300, help="Frames per repetition"),
    window: int = typer.Option(10, help="Frames sharing one transform"),
    recipe: str = typer.Option("article", help="Recipe spec, as for `augment`"),
):
    """Milliseconds per frame for the augmentation recipe at 100x56."""
    from actionrec.data.recipe import load_recipe
    from actionrec.tools.bench.augment import bench_augment

    at_least(1, frames=frames, window=window)

    r = bench_augment(n_frames=frames, window=window, recipe=load_recipe(recipe))
    typer.echo(json.dumps(r, indent=2))


@app.command()
@command(interrupted=RESUMES)
def synth(
    out: Path,
    people: int = typer.Option(SynthConfig.people, help="Synthetic people (each one a group)"),
    clips_per_class: int = typer.Option(SynthConfig.clips_per_class, help="Clips per person and move"),
    sparring: int = typer.Option(SynthConfig.sparring_per_person, help="Continuous annotated sparring videos per person"),
    sparring_seconds: float = typer.Option(SynthConfig.sparring_seconds, help="Length of each sparring video"),
    seed: int = typer.Option(0, help="Same seed, same videos"),
    webcam: bool = typer.Option(False, help="The starter model's people: cameras of a player facing a laptop (front to "
                                "side, mirrored or not, full body or waist up), slower and relaxed people too; the "
                                "camera options below override it"),
    camera_yaw: Optional[str] = typer.Option(None, help="Camera yaw range LO,HI in degrees (0 front, 90 side, 180 behind)"),
    camera_pitch: Optional[str] = typer.Option(None, help="Camera pitch range LO,HI in degrees (down is +)"),
    camera_distance: Optional[str] = typer.Option(None, help="Camera distance range LO,HI in metres (0 = no perspective)"),
    mirror: Optional[float] = typer.Option(None, help="Share of mirrored (southpaw) videos, 0..1"),
    waist_up: Optional[float] = typer.Option(None, help="Share of waist-up framings, 0..1"),
    keypoints: bool = typer.Option(False, help="Write each video's joints as a keypoint clip (.kp.npz), not pixels"),
    keypoint_noise: float = typer.Option(RenderOptions.keypoint_noise, help="Keypoint jitter, times BlazePose's measured error (0 = exact)"),
):
    """Render synthetic fighters: class-folder clips, annotated sparring videos, groups.csv, preview.png."""
    from actionrec.synth.camera import camera_ranges
    from actionrec.synth.dataset import synthesize
    from actionrec.util.outputs import SYNTH, claim_output

    cameras = camera_ranges(webcam, yaw=camera_yaw, pitch=camera_pitch, distance=camera_distance, mirror=mirror,
                            waist_up=waist_up)
    options = (webcam_options if webcam else RenderOptions)(camera=cameras, keypoints=keypoints,
                                                             keypoint_noise=keypoint_noise)
    claim_output(out, SYNTH, option="OUT")
    s = synthesize(out, people=people, clips_per_class=clips_per_class, seed=seed, sparring_per_person=sparring,
                   sparring_seconds=sparring_seconds, options=options)
    typer.echo(f"{s.clips} clips and {s.sparring} sparring videos in {out} ({s.rendered} rendered now, {s.seconds:.1f} s)")
    typer.echo("per class: " + ", ".join(f"{k} {v}" for k, v in sorted(s.class_counts.items())))
    typer.echo(f"preview: {s.preview}")


@app.command()
@command(interrupted=RESUMES)
def demo(
    out: Optional[Path] = typer.Option(None, help="Output folder (default runs/demo, or runs/demo-quick with --quick)"),
    quick: bool = typer.Option(False, help="A small run (about a minute) for a first look and the tests"),
    seed: int = typer.Option(0, help="Seed for synthesis, folds and training"),
    weights: Optional[Path] = WEIGHTS,
):
    """Synthesize fighters, embed, evaluate frame baseline vs LSTM on unseen people, save a ready LSTM."""
    from actionrec.tools.demo import DemoOptions, run_demo

    options = DemoOptions.quick(seed=seed) if quick else DemoOptions(seed=seed)
    if out is not None:
        from dataclasses import replace

        options = replace(options, out=out)
    result = run_demo(options, weights=weights, log=typer.echo)
    typer.echo("")
    typer.echo(result.table)
    typer.echo(f"\nreport: {result.report_dir}/report.md   model: {result.model_dir}   ({result.seconds / 60:.1f} min)")
    typer.echo(f"next: actionrec replay --model {result.model_dir} VIDEO   or   actionrec live --model {result.model_dir} --source 0")
    if result.starter:
        typer.echo(f"on a real person, no recording needed: actionrec live --model {result.starter.model_dir} --source 0"
                   "   (stand back until the camera sees you head to feet: kicks need legs in the picture)")


ALLOW_HOST = typer.Option([], "--allow-host", metavar="NAME", help="With a --host other than loopback: a name or address the page is "
                          "opened by, e.g. mylaptop.local (repeatable); loopback and --host are always allowed")
HOOK_HELP = ("Map a class to a Detect hook or an MK.js move, CLASS=TARGET (e.g. kick/back=onPunch, punch/jab=UPPERCUT); "
             "yours win over the defaults: jab LOW_PUNCH, cross HIGH_PUNCH, front kick LOW_KICK, roundhouse SPIN_KICK, "
             "back kick HIGH_KICK, walk WALK, else punch/*->onPunch, kick/*->onKick, stand->onStand")


def _hooks(pairs: list[str]) -> dict[str, str]:
    from actionrec.live.mkjs import check_target

    hooks = {}
    for pair in pairs:
        cls, _, target = (x.strip() for x in pair.partition("="))
        if not cls or not target:
            raise ActionrecError(f"--hook {pair!r}: expected CLASS=TARGET, e.g. kick/back=onKick or kick/back=HIGH_KICK")
        hooks[cls] = check_target(cls, target)
    return hooks


@app.command()
@command
def cameras(max_index: int = typer.Option(10, help="Probe camera indices 0 to N-1")):
    """List the cameras this machine can open (index, backend, frame size): the values for --source."""
    from actionrec.live.camera_backends import camera_hint, list_cameras

    found = list_cameras(max_index)
    for camera in found:
        typer.echo(camera.describe())
    if not found:
        typer.echo(f"no camera found among indices 0-{max_index - 1}; {camera_hint()}")


@app.command()
@command
def live(
    model: Path = typer.Option(..., help="Model directory (e.g. runs/demo/model)"),
    source: str = typer.Option("0", help="Camera index (`actionrec cameras` lists them), video file or stream URL"),
    game_dir: Optional[Path] = typer.Option(None, help="Your MK.js checkout (or its game/ folder); without it, the practice page"),
    host: str = typer.Option("127.0.0.1", help="Address to serve on (only this machine by default)"),
    allow_host: list[str] = ALLOW_HOST,
    port: int = typer.Option(LiveOptions.port, help="Port for the page and the WebSocket"),
    hook: list[str] = typer.Option([], help=HOOK_HELP),
    wait_for_page: bool = typer.Option(False, help="Start reading the source once a page can run hooks (MK.js: its game has loaded)"),
    backend: str = BACKEND,
    threads: int = THREADS,
    enter: float = ENTER,
    min_frames: int = MIN_FRAMES,
    weights: Optional[Path] = WEIGHTS,
):
    """Play MK.js (or the practice page) from a camera, video file or stream URL."""
    from actionrec.live.camera import parse_source
    from actionrec.live.game import LiveOptions, run_live
    from actionrec.live.server import allowed_host_names

    allowed_host_names(host, allow_host)  # a bad name fails before the model loads
    options = LiveOptions(source=parse_source(source), host=host, allow_hosts=tuple(allow_host), port=port, game_dir=game_dir,
                          hooks=_hooks(hook), wait_for_page=wait_for_page, trigger=TriggerOptions.at(enter, min_frames))
    report = run_live(model, options, weights, log=typer.echo, backend=backend, threads=threads)
    if report.failed:
        raise typer.Exit(1)


@app.command()
@command
def play(
    game_dir: Path = typer.Option(..., help="Your MK.js checkout (git clone https://github.com/mgechev/mk.js), or its game/ folder"),
    model: Path = typer.Option(..., help="Model directory (e.g. runs/demo/model; its TFLite export is used when present)"),
    source: str = typer.Option("0", help="Camera index (`actionrec cameras` lists them), video file or stream URL"),
    port: int = typer.Option(8765, help="Port for the page and the WebSocket"),
    hook: list[str] = typer.Option([], help=HOOK_HELP),
    browser: bool = typer.Option(True, help="Open the game in this machine's browser"),
    enter: float = ENTER,
    min_frames: int = MIN_FRAMES,
    weights: Optional[Path] = WEIGHTS,
):
    """Play MK.js with your moves: the game, with the camera picture, probabilities and last move beside it."""
    from actionrec.live.camera import parse_source
    from actionrec.live.game import LiveOptions, run_live

    options = LiveOptions(source=parse_source(source), port=port, game_dir=game_dir, hooks=_hooks(hook), wait_for_page=True,
                          trigger=TriggerOptions.at(enter, min_frames))
    report = run_live(model, options, weights, log=typer.echo, open_browser=browser)
    if report.failed:
        raise typer.Exit(1)


@app.command()
@command
def replay(
    video: Path,
    model: Path = typer.Option(..., help="Model directory"),
    annotations: Optional[Path] = typer.Option(None, help="annotations.csv to score the events against"),
    as_json: bool = typer.Option(False, "--json", help="Print events and the score as JSON lines"),
    backend: str = BACKEND,
    threads: int = THREADS,
    enter: float = ENTER,
    min_frames: int = MIN_FRAMES,
    weights: Optional[Path] = WEIGHTS,
):
    """Run the live loop on a file as fast as possible; print the events, and score them if annotated."""
    from dataclasses import asdict

    from actionrec.events.scoring import format_score
    from actionrec.live.replay import replay as run
    from actionrec.live.runtime import InferenceSession, SessionOptions

    trigger = TriggerOptions.at(enter, min_frames)  # a bad value fails before the model loads
    session = InferenceSession(SessionOptions(model, backend=backend, num_threads=threads, weights=weights))

    def show(event) -> None:
        if as_json:
            typer.echo(json.dumps({"event": event.kind, "class": event.fine, "prob": round(float(event.prob), 4), "t": round(float(event.t), 3)}))
        else:
            typer.echo(f"{event.t:8.2f} s  {event.kind:<6} {event.fine:<18} p={event.prob:.2f}")

    result = run(session, video, annotations=annotations, trigger=trigger, on_event=show)
    for t, text in result.warnings:
        typer.echo(f"{t:8.2f} s  warning: {text}", err=True)
    if result.shortfall:
        typer.echo(f"note: {result.message}", err=True)
    typer.echo(f"{len(result.times)} frames at {result.fps:.0f} fps; {len(result.events)} events", err=as_json)
    if result.score is not None:
        if as_json:
            typer.echo(json.dumps({"score": asdict(result.score)}, default=float))
        else:
            typer.echo(format_score(result.score))


@bench_app.command("stream")
@command
def bench_stream_cmd(
    video: Path,
    model: Path = typer.Option(..., help="Model directory"),
    browser: bool = typer.Option(True, help="Acknowledge hooks from headless Chromium (else a Python client)"),
    game_dir: Optional[Path] = typer.Option(None, help="Play your MK.js checkout in the browser instead of the practice page"),
    backend: str = BACKEND,
    threads: int = THREADS,
    weights: Optional[Path] = WEIGHTS,
):
    """Live play with VIDEO as the camera: sustained fps, step time, capture-to-hook latency."""
    from actionrec.live.runtime import InferenceSession, SessionOptions
    from actionrec.tools.bench.stream import CHROMIUM, bench_stream

    if game_dir is not None and not browser:
        raise ActionrecError("--game-dir needs the browser: the game's hooks run in the page (drop --no-browser)")
    session = InferenceSession(SessionOptions(model, backend=backend, num_threads=threads, weights=weights))
    figures = bench_stream(session, video, chromium=CHROMIUM if browser else None, log=typer.echo, game_dir=game_dir)
    typer.echo(json.dumps(figures, indent=2))


@app.command()
@command(interrupted="interrupted; run the export again to finish it (until then live and replay use the Keras model)")
def export(
    model: Path,
    format: list[str] = typer.Option(["tflite"], "--format", help="tflite (for LiteRT, used by live and replay) and/or savedmodel"),
    weights: Optional[Path] = WEIGHTS,
):
    """Write a fast inference copy of MODEL into its directory (checked against Keras within 1e-3)."""
    from actionrec.live.export import export_model

    record = export_model(model, tuple(format), weights=weights)
    for name, info in record.get("files", {}).items():
        typer.echo(f"wrote {model / name}" + (f"  sha256 {info['sha256'][:12]}" if isinstance(info, dict) and "sha256" in info else ""))
    if "check" in record:
        typer.echo("max difference to Keras: " + ", ".join(f"{k} {v:.2e}" for k, v in record["check"].items() if isinstance(v, float)))


@app.command()
@command
def record(
    dataset: Path,
    person: str = typer.Option(..., help="Who is recording (their group in groups.csv)"),
    moves: str = typer.Option(..., help="Comma-separated labels, e.g. punch/jab,kick/roundhouse"),
    reps: int = typer.Option(RecordOptions.reps, help="Takes per move"),
    source: str = typer.Option("0", help="Camera index (`actionrec cameras` lists them), video file or stream URL"),
    continuous: bool = typer.Option(False, help="One video plus annotations.csv rows instead of a clip per take"),
    idle: bool = typer.Option(True, help="An other/idle take between moves"),
    countdown: float = typer.Option(RecordOptions.countdown, help="Seconds of countdown before each take"),
    take_seconds: float = typer.Option(RecordOptions.take_seconds, help="Seconds per take"),
    seed: int = typer.Option(0, help="Seed for the shuffled order of takes"),
    host: str = typer.Option("127.0.0.1", help="Address to serve the recording page on"),
    allow_host: list[str] = ALLOW_HOST,
    port: int = typer.Option(RecordOptions.port, help="Port for the recording page"),
):
    """Record labeled clips of yourself: a served page cues each take; clips go into DATASET with groups.csv."""
    from actionrec.live.camera import parse_source
    from actionrec.live.record.plan import RecordOptions
    from actionrec.live.record.recorder import run_record
    from actionrec.live.server import allowed_host_names

    allowed_host_names(host, allow_host)  # a bad name fails before the camera opens
    options = RecordOptions(dataset=dataset, person=person, moves=moves, reps=reps, source=parse_source(source), idle=idle,
                            countdown=countdown, take_seconds=take_seconds, seed=seed, continuous=continuous, host=host,
                            allow_hosts=tuple(allow_host), port=port)
    summary = run_record(options, log=typer.echo)
    if not summary.complete:
        raise typer.Exit(1)


@app.command("fetch-pose-models")
@command
def fetch_pose_models_cmd(cache: Optional[Path] = typer.Option(None, help="Folder to fill (default: the user cache)")):
    """Fill the BlazePose model cache from PyPI: the mediapipe 0.10.21 wheel without its dependencies, two files taken out, sha256 checked."""
    from actionrec.features.pose.assets import fetch_pose_models

    paths = fetch_pose_models(cache)
    typer.echo(f"pose models ready in {paths.detector.parent}")


@app.command()
@command(interrupted=RESUMES)
def score(model: Path, dataset: Path, out: Path = typer.Option(..., help="Report folder, e.g. reports/NAME"),
          cache: Optional[Path] = CACHE, weights: Optional[Path] = WEIGHTS, enter: float = ENTER,
          min_frames: int = MIN_FRAMES):
    """Judge an existing model on a labelled dataset without training: accuracy and macro-F1 (fine, coarse), events, report.json/md, confusion plots."""
    from actionrec.learn.score import markdown, score_model

    report = score_model(model, dataset, out, cache, weights, trigger=TriggerOptions.at(enter, min_frames))
    typer.echo(markdown(report))
    typer.echo(f"wrote {out}/report.json, report.md and confusion plots")


@app.command("import-kinect")
@command
def import_kinect_cmd(src: Path, out: Path,
                      labels: Path = typer.Option(..., help="Label map CSV: number,label (labels may be coarse/fine)"),
                      fps: float = typer.Option(30.0, help="Frame rate of the skeleton stream (Kinect v1: 30)"),
                      yaw: str = typer.Option("0", help="Camera yaw (degrees) the clips' pose features see them from; 0: the "
                                              "Kinect's view; a list (0,-45,45) writes each sequence once per yaw")):
    """Kinect v1 skeleton CSVs -> a dataset of keypoint clips (.kp.npz) with annotations.csv and groups.csv per person."""
    from actionrec.data.kinect import import_kinect, read_label_map

    try:
        yaws = tuple(float(y) for y in yaw.split(","))
    except ValueError:
        raise ActionrecError(f"--yaw {yaw!r}: expected an angle in degrees or a list like 0,-45,45") from None
    stats = import_kinect(src, out, read_label_map(labels), fps=fps, yaw=yaws)
    typer.echo(f"{stats.clips} clips, {stats.frames} frames, {len(stats.groups)} people -> {out}")
    for label, n in sorted(stats.frame_labels.items()):
        typer.echo(f"  {label}: {n} frames in {stats.segments[label]} segments")


def main() -> None:  # console entry for `python -m actionrec`
    app(prog_name="actionrec")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
