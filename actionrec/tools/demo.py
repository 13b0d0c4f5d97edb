"""``actionrec demo``: the whole system on built-in synthetic data, in one command.

Synthesize fighters (cached) -> embed every frame (cached) -> evaluate the frame baseline against the
LSTM on people never seen in training (grouped folds, fine and coarse labels) -> train a final LSTM on
everyone, ready for ``actionrec live`` and ``actionrec replay`` -> the starter model (``tools/starter.py``):
pose features of synthetic people from every webcam camera, scored zero-shot on PRECOG's real people. The
starter trains in a second process from the start (11.9 minutes in all instead of 14.3 here).
"""

from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass
from pathlib import Path

from actionrec.data.video import FrameSpec
from actionrec.errors import ActionrecError
from actionrec.learn.evaluate import TRAIN_STRIDE, EvaluateOptions, evaluate, evaluate_options
from actionrec.learn.models import LSTMOptions, TrainOptions, versions
from actionrec.learn.report import format_table
from actionrec.features.spec import FeatureSpec
from actionrec.learn.embedded import embed_dataset_dir
from actionrec.learn.train import fit
from actionrec.live.export import export_model
from actionrec.synth.dataset import synthesize
from actionrec.tools.starter import StarterOptions, StarterResult, train_starter
from actionrec.util.atomic import write_json
from actionrec.util.outputs import DEMO, claim_output


@dataclass(frozen=True)
class DemoOptions:
    out: Path = Path("runs/demo")
    seed: int = 0
    people: int = 24  # unseen-people accuracy grows with people seen: LSTM fine macro-F1 0.77 with 8, 0.87 with 16, 0.91 with 24
    clips_per_class: int = 6
    sparring_per_person: int = 1
    sparring_seconds: float = 40.0
    folds: int = 4
    window: int = LSTMOptions.window
    stride: int = TRAIN_STRIDE
    epochs: int = TrainOptions.epochs
    # 224x126 rather than the article's 100x56, same aspect: on 24 people the LSTM's fine macro-F1 on unseen
    # people is about 0.8 at 100x56 and 0.91 at 224x126 (the small synthetic poses need the pixels).
    width: int = 224
    height: int = 126
    # MobileNet alone, not the default mobilenet+diff: the motion part lifts the LSTM on these 24 people
    # (fine macro-F1 0.911 -> 0.941) but doubles the embedding, and the whole demo must stay within 15 min.
    features: str = "mobilenet"
    starter: StarterOptions | None = StarterOptions()  # None: no starter model

    @classmethod
    def quick(cls, out: Path = Path("runs/demo-quick"), seed: int = 0) -> "DemoOptions":
        """Small enough for a test and a first look (about a minute on 2 cores)."""
        return cls(out=out, seed=seed, people=4, clips_per_class=3, sparring_per_person=0, folds=2, epochs=30, width=160, height=90,
                   starter=StarterOptions(people=4, clips_per_class=2, sparring_per_person=0, epochs=5, seed=seed))

    def evaluate_options(self) -> EvaluateOptions:
        return evaluate_options(folds=self.folds, window=self.window, stride=self.stride, epochs=self.epochs, seed=self.seed)


@dataclass
class DemoResult:
    report: dict
    table: str
    model_dir: Path
    dataset: Path
    report_dir: Path
    seconds: float
    starter: StarterResult | None = None


def run_demo(options: DemoOptions = DemoOptions(), weights=None, log=print) -> DemoResult:
    started = time.perf_counter()
    out = claim_output(options.out, DEMO)  # a new or empty folder, or an earlier demo's (its caches resume)
    write_json(out / "demo.json", {"options": asdict(options), "versions": versions()})

    steps = 5 if options.starter else 4
    # The starter trains in a second process while this one synthesizes, embeds and evaluates: those
    # steps leave part of the 2 cores idle (synthesis runs on one), and the demo must stay within 15
    # minutes. It touches none of their files (starter-synth, starter, precog-*), and a process of its own
    # keeps its random seeds its own: the same bytes as trained alone.
    pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) if options.starter else None
    try:
        started_starter = pool.submit(_train_starter_quietly, out, options.starter) if pool else None
        report, model_dir, dataset, report_dir = _main_steps(options, out, steps, weights, log)
        starter = None
        if started_starter is not None:
            log(f"[5/{steps}] the starter model for real people: {options.starter.people} synthetic people from every "
                f"webcam camera, pose features -> {out / 'starter'} (trained beside the steps above)")
            starter = _collect(started_starter, log)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    table = format_table(report)
    return DemoResult(report, table, model_dir, dataset, report_dir, time.perf_counter() - started, starter)


def _main_steps(options: DemoOptions, out: Path, steps: int, weights, log):
    """Steps 1-4: synthesize, embed, evaluate, train and export the final LSTM."""
    dataset, report_dir, model_dir = out / "synth", out / "report", out / "model"
    log(f"[1/{steps}] synthesizing {options.people} people x 7 moves x {options.clips_per_class} clips into {dataset}")
    synth = synthesize(
        dataset, people=options.people, clips_per_class=options.clips_per_class, seed=options.seed,
        sparring_per_person=options.sparring_per_person, sparring_seconds=options.sparring_seconds,
        remake=True,  # the demo's own cache: an earlier version's dataset of other options is made again
    )
    log(f"      {synth.clips} clips + {synth.sparring} sparring videos ({synth.rendered} rendered now, "
        f"{synth.seconds:.0f} s{synth.remade_note})")

    log(f"[2/{steps}] embedding every frame with MobileNet (cached)")
    data = embed_dataset_dir(dataset, FrameSpec(width=options.width, height=options.height), weights=weights,
                             features=FeatureSpec.parse(options.features))

    log(f"[3/{steps}] evaluating on unseen people: {options.folds} grouped folds, frame baseline vs LSTM")
    eval_options = options.evaluate_options()
    report = evaluate(data, report_dir, eval_options, log=lambda msg: log("      " + msg))

    log(f"[4/{steps}] training the final LSTM on all {len(data.clips)} clips -> {model_dir}")
    final = fit(data, eval_options.sequence_model)
    final.config["dataset"] = str(dataset.resolve())
    final.config["spec"] = eval_options.sequence_model.to_dict()
    final.save(model_dir, overwrite=True)  # the demo's own model, inside its own folder
    # The TFLite export, so that the first `live` or `play` runs on LiteRT, not on the Keras path.
    export_model(model_dir, weights=weights)
    log(f"      exported {model_dir} for LiteRT (used by live, play and replay)")
    return report, model_dir, dataset, report_dir


def _train_starter_quietly(out: Path, options: StarterOptions) -> tuple[StarterResult, list[str]]:
    """``train_starter`` in the second process: its lines are returned, to be printed in order at step 5,
    and its own output (TensorFlow's start-up messages) silenced so that it does not cut into step 3's."""
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.dup2(null, 2)
    os.close(null)
    lines: list[str] = []
    return train_starter(out, options, log=lines.append), lines


def _collect(future: Future, log) -> StarterResult:
    try:
        result, lines = future.result()  # an error in the second process is raised here, as it was there
    except BrokenProcessPool:
        raise ActionrecError("the starter model's process ended without a result (killed, or out of memory?); "
                             "run `actionrec demo` again with the same --out to resume it") from None
    for line in lines:
        log(line)
    return result
