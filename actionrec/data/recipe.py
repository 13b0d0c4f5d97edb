"""Data augmentation: the article's imgaug recipe, applied as ONE transform per window or clip.

A sequence model must see a window change as a whole: if every frame got its own random crop the LSTM
would learn flicker. So every call seeds a private copy of the recipe, freezes it with imgaug's
``to_deterministic()`` and applies it to each frame separately (a deterministic augmenter still samples
per image within one batch, so frames are never passed as a batch). Identical input frames therefore give
identical output frames; optional mild per-frame noise can go on top.

Horizontal flips are done here, not by imgaug: a flipped ``punch/left`` is a ``punch/right``, so we need to
know when a flip happened to map the label (``FlipMap``). Everything is seeded explicitly: the same seed
gives the same bytes, whatever the global random state.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import imgaug
import imgaug.augmenters as iaa
import imgaug.parameters as iap
import numpy as np

from actionrec.errors import ActionrecError


def _fresh_distance_matrix(self: iap.FrequencyNoise, size: tuple[int, int]) -> np.ndarray:
    return self._create_distance_matrix(size)


# imgaug 0.4 bug: FrequencyNoise keeps a growing distance-matrix cache and writes into views of it, so its
# noise depends on what was drawn before; BlendAlphaFrequencyNoise then differs between two calls of the same
# deterministic augmenter. Building the (at most 32x32) matrix afresh each time makes it a pure function.
iap.FrequencyNoise._get_distance_matrix_cached = _fresh_distance_matrix

# imgaug 0.4 builds ``pad_mode=ALL`` (CropAndPad, Pad, ...) as ``Choice(list(a_set_of_mode_names))``: the
# list's order, and so the mode a given random draw picks, follows Python's per-process string hashing.
# Two processes with one seed padded differently and printed different recipes (fingerprints).
_PAD_MODES = frozenset(
    {"constant", "edge", "linear_ramp", "maximum", "mean", "median", "minimum", "reflect", "symmetric", "wrap"}
)


def canonical_recipe(recipe: iaa.Augmenter) -> iaa.Augmenter:
    """Put the choices imgaug made from a set in sorted order, in place; returns ``recipe``.

    Only a uniform choice over exactly the set's names is touched: a list the user wrote keeps its order.
    """
    for aug in [recipe, *recipe.get_all_children(flat=True)]:
        for choice in _choices(aug.get_parameters(), set()):
            if choice.p is None and len(choice.a) == len(_PAD_MODES) and set(choice.a) == _PAD_MODES:
                choice.a = sorted(choice.a)
    return recipe


def _choices(value, seen: set[int]) -> Iterable[iap.Choice]:
    """Every ``Choice`` inside a parameter value (parameters nest, and sit in tuples and lists)."""
    if id(value) in seen:
        return
    seen.add(id(value))
    if isinstance(value, (list, tuple)):
        for item in value:
            yield from _choices(item, seen)
    elif isinstance(value, iap.StochasticParameter):
        if isinstance(value, iap.Choice) and isinstance(value.a, list):
            yield value
        for item in vars(value).values():
            yield from _choices(item, seen)


# ----------------------------------------------------------------------------------------------- recipe


@dataclass(frozen=True)
class RecipeParams:
    """Every number of the article's recipe, in one place. Ranges are (low, high), sampled uniformly."""

    flip_probability: float = 0.5  # Fliplr(0.5); applied outside imgaug so labels can follow (FlipMap)
    sometimes: float = 0.5  # probability of each Sometimes(...) wrapper (crop/pad, affine)
    random_order: bool = True  # the outer Sequential runs its steps in random order
    crop_percent: tuple[float, float] = (-0.05, 0.1)  # negative crops, positive pads
    crop_pad_mode: str = imgaug.ALL
    crop_pad_cval: tuple[int, int] = (0, 255)
    affine_scale: tuple[float, float] = (0.8, 1.2)  # per axis, independently
    affine_translate_percent: tuple[float, float] = (-0.1, 0.1)  # per axis
    affine_rotate: tuple[float, float] = (-5, 5)  # degrees
    affine_shear: tuple[float, float] = (-5, 5)  # degrees
    affine_order: tuple[int, ...] = (0, 1)  # nearest or bilinear
    affine_cval: tuple[int, int] = (0, 255)
    affine_mode: str = imgaug.ALL
    grayscale_alpha: tuple[float, float] = (0.0, 1.0)
    invert_probability: float = 0.05
    invert_per_channel: bool = False
    some_of: tuple[int, int] = (0, 5)  # how many of the eight "less important" augmenters run
    some_of_random_order: bool = True
    gaussian_blur_sigma: tuple[float, float] = (0.0, 2.0)
    average_blur_k: tuple[int, int] = (2, 5)
    median_blur_k: tuple[int, int] = (3, 5)
    sharpen_alpha: tuple[float, float] = (0.0, 1.0)
    sharpen_lightness: tuple[float, float] = (0.75, 1.5)
    emboss_alpha: tuple[float, float] = (0.0, 1.0)
    emboss_strength: tuple[float, float] = (0.0, 2.0)
    noise_scale: tuple[float, float] = (0.0, 0.01 * 255)
    noise_per_channel: float = 0.5
    add: tuple[int, int] = (-10, 10)
    add_per_channel: float = 0.5
    hue_saturation: tuple[int, int] = (-20, 20)
    multiply: tuple[float, float] = (0.9, 1.1)
    multiply_per_channel: float = 0.5
    frequency_noise_exponent: tuple[float, float] = (-2, 0)
    frequency_noise_multiply: tuple[float, float] = (0.9, 1.1)  # foreground, per channel
    frequency_noise_contrast: tuple[float, float] = (0.9, 1.1)  # background
    contrast: tuple[float, float] = (0.5, 2.0)
    contrast_per_channel: float = 0.5


def article_recipe(params: RecipeParams = RecipeParams()) -> iaa.Augmenter:
    """The article's imgaug pipeline without its Fliplr (see ``WindowAugmenter``).

    Deprecated names are replaced by their imgaug 0.4 successors with the same parameters:
    FrequencyNoiseAlpha -> BlendAlphaFrequencyNoise (first/second -> foreground/background),
    ContrastNormalization -> LinearContrast.
    """
    p = params
    sometimes = lambda aug: iaa.Sometimes(p.sometimes, aug)  # noqa: E731 (the article's helper)
    # Built without prefetching: prefetched samples are hidden state, and the augmenter's text (our
    # fingerprint) then stays the same however often it was used.
    with iap.no_prefetching():
        return canonical_recipe(iaa.Sequential(
            [
                sometimes(iaa.CropAndPad(percent=p.crop_percent, pad_mode=p.crop_pad_mode, pad_cval=p.crop_pad_cval)),
                sometimes(
                    iaa.Affine(
                        scale={"x": p.affine_scale, "y": p.affine_scale},
                        translate_percent={"x": p.affine_translate_percent, "y": p.affine_translate_percent},
                        rotate=p.affine_rotate,
                        shear=p.affine_shear,
                        order=list(p.affine_order),
                        cval=p.affine_cval,
                        mode=p.affine_mode,
                    )
                ),
                iaa.Grayscale(alpha=p.grayscale_alpha),
                iaa.Invert(p.invert_probability, per_channel=p.invert_per_channel),
                iaa.SomeOf(
                    p.some_of,
                    [
                        iaa.OneOf(
                            [
                                iaa.GaussianBlur(p.gaussian_blur_sigma),
                                iaa.AverageBlur(k=p.average_blur_k),
                                iaa.MedianBlur(k=p.median_blur_k),
                            ]
                        ),
                        iaa.Sharpen(alpha=p.sharpen_alpha, lightness=p.sharpen_lightness),
                        iaa.Emboss(alpha=p.emboss_alpha, strength=p.emboss_strength),
                        iaa.AdditiveGaussianNoise(loc=0, scale=p.noise_scale, per_channel=p.noise_per_channel),
                        iaa.Add(p.add, per_channel=p.add_per_channel),
                        iaa.AddToHueAndSaturation(p.hue_saturation),
                        iaa.OneOf(
                            [
                                iaa.Multiply(p.multiply, per_channel=p.multiply_per_channel),
                                iaa.BlendAlphaFrequencyNoise(
                                    exponent=p.frequency_noise_exponent,
                                    foreground=iaa.Multiply(p.frequency_noise_multiply, per_channel=True),
                                    background=iaa.LinearContrast(p.frequency_noise_contrast),
                                ),
                            ]
                        ),
                        iaa.LinearContrast(p.contrast, per_channel=p.contrast_per_channel),
                    ],
                    random_order=p.some_of_random_order,
                ),
            ],
            random_order=p.random_order,
        ))


def load_recipe(spec: str) -> iaa.Augmenter:
    """``"article"`` or a user's own pipeline: ``"path/to/file.py:function"`` or ``"module:function"``.

    The function takes no arguments and returns an ``imgaug.augmenters.Augmenter``; leave horizontal flips
    out of it (``WindowAugmenter`` flips and maps labels itself). The file is imported and run like a config
    file, so only name files you wrote or trust.
    """
    if spec == "article":
        return article_recipe()
    target, sep, func_name = spec.rpartition(":")
    if not sep or not target or not func_name:
        raise ActionrecError(f"recipe {spec!r}: expected 'article', 'path/to/file.py:function' or 'module:function'")
    if target.endswith(".py") or "/" in target or "\\" in target:
        path = Path(target)
        if not path.is_file():
            raise ActionrecError(f"{path}: recipe file not found")
        name = f"actionrec_recipe_{hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]}"
        mod_spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(mod_spec)
        sys.modules[name] = module
        try:
            mod_spec.loader.exec_module(module)
        except Exception as exc:
            raise ActionrecError(f"{path}: importing the recipe file failed: {exc}") from exc
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            raise ActionrecError(f"recipe {spec!r}: cannot import module {target!r} ({exc})") from exc
    func = getattr(module, func_name, None)
    if not callable(func):
        raise ActionrecError(f"recipe {spec!r}: {target} has no function {func_name!r}")
    try:
        with iap.no_prefetching():
            recipe = func()
    except Exception as exc:
        raise ActionrecError(f"recipe {spec!r}: {func_name}() failed: {exc}") from exc
    if not isinstance(recipe, iaa.Augmenter):
        got = type(recipe).__name__
        raise ActionrecError(f"recipe {spec!r}: {func_name}() returned {got}, expected an imgaug Augmenter")
    return canonical_recipe(recipe)


def recipe_fingerprint(recipe: iaa.Augmenter) -> str:
    """A short hash of the recipe's full description (every parameter), for cache keys and resume checks.

    Taken of the recipe as ``WindowAugmenter`` runs it (``canonical_recipe``), the same in every process.
    """
    text = re.sub(r" at 0x[0-9a-fA-F]+", "", str(canonical_recipe(recipe.deepcopy())))  # function reprs carry addresses
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _recipe_name(recipe: iaa.Augmenter | None) -> str:
    """``article`` for the default recipe (None, or an augmenter identical to it), else ``custom <hash>``."""
    if recipe is None or recipe_fingerprint(recipe) == recipe_fingerprint(article_recipe()):
        return "article"
    return f"custom {recipe_fingerprint(recipe)}"


def derive_seed(seed: int, *keys: str | int) -> int:
    """A seed for one item (e.g. clip id and copy index) from the run's seed; stable across processes."""
    digest = hashlib.blake2b(json.dumps([seed, *keys]).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


# ------------------------------------------------------------------------------------------------ flips

_SIDES = {"left": "right", "right": "left"}
_WORD = re.compile(r"[A-Za-z0-9]+")


def mirror_label(label: str) -> str | None:
    """Swap side words (``punch/left`` -> ``punch/right``, ``Left_Kick`` -> ``Right_Kick``).

    Side words must be whole words between separators; returns None when the label names no side.
    """
    found = False

    def swap(m: re.Match) -> str:
        nonlocal found
        word = m.group(0)
        other = _SIDES.get(word.lower())
        if other is None:
            return word
        found = True
        return other.upper() if word.isupper() else other.title() if word[0].isupper() else other

    mirrored = _WORD.sub(swap, label)
    return mirrored if found else None


class FlipMap:
    """The label a horizontally flipped clip gets.

    Pairs are found among ``labels`` by side words, plus the user's ``pairs`` (which take precedence). A
    sided label whose partner is not among the labels cannot flip (``can_flip`` is False); a label naming
    no side flips to itself.
    """

    def __init__(self, labels: Iterable[str] = (), pairs: Iterable[tuple[str, str]] = ()):
        self.labels = frozenset(labels)
        user: dict[str, str] = {}
        for a, b in pairs:
            if not a or not b or a == b:
                raise ActionrecError(f"flip pair {a!r}={b!r}: expected two different labels")
            if self.labels and a not in self.labels and b not in self.labels:  # misspelt: it would pair nothing
                raise ActionrecError(f"flip pair {a!r}={b!r}: neither is a label of the dataset; expected at least "
                                     f"one of {', '.join(sorted(self.labels))}")
            for x, y in ((a, b), (b, a)):
                if user.get(x, y) != y:
                    raise ActionrecError(f"flip pair {a!r}={b!r}: {x!r} is already paired with {user[x]!r}")
                user[x] = y
        auto = {lab: mirror_label(lab) for lab in self.labels if mirror_label(lab) in self.labels}
        # An automatic pair touching a user-paired label would make the map one-sided; drop it.
        self._partners = {a: b for a, b in auto.items() if a not in user and b not in user} | user

    def can_flip(self, label: str | None) -> bool:
        return label is None or label in self._partners or mirror_label(label) is None

    def flip(self, label: str | None) -> str | None:
        if label is None:
            return None
        if label in self._partners:
            return self._partners[label]
        if mirror_label(label) is None:
            return label
        raise ActionrecError(f"label {label!r}: names a side but has no partner label to flip to")

    @property
    def pairs(self) -> list[tuple[str, str]]:
        return sorted({tuple(sorted(pair)) for pair in self._partners.items()})

    @property
    def unflippable(self) -> list[str]:
        """The known labels that name a side but have no partner: clips with them are never flipped."""
        return sorted(lab for lab in self.labels if not self.can_flip(lab))


def parse_flip_pairs(specs: Iterable[str]) -> list[tuple[str, str]]:
    """``["jab=cross"]`` -> ``[("jab", "cross")]`` (the CLI's ``--flip-pair`` values)."""
    pairs = []
    for spec in specs:
        a, sep, b = spec.partition("=")
        if not sep or not a.strip() or not b.strip():
            raise ActionrecError(f"flip pair {spec!r}: expected LABEL=LABEL, e.g. punch/left=punch/right")
        pairs.append((a.strip(), b.strip()))
    return pairs


# ------------------------------------------------------------------------------------- window augmenter


@dataclass(frozen=True)
class AugmentOptions:
    recipe: iaa.Augmenter | None = None  # None: the article's recipe with default RecipeParams
    flip_probability: float = RecipeParams().flip_probability
    flip_map: FlipMap = field(default_factory=FlipMap)  # the default knows no labels: sided ones never flip
    noise_sigma: float = 0.0  # std (pixel values) of extra Gaussian noise drawn anew for every frame

    def __post_init__(self) -> None:
        if not 0.0 <= self.flip_probability <= 1.0:
            raise ActionrecError(f"flip probability must be in [0, 1], got {self.flip_probability}")
        if not (self.noise_sigma >= 0 and math.isfinite(self.noise_sigma)):
            raise ActionrecError(f"per-frame noise sigma must be >= 0, got {self.noise_sigma}")


class WindowAugmenter:
    """Augments a whole window or clip with one transform drawn from ``seed``.

    Not thread-safe: it re-seeds one private copy of the recipe per call (cheaper than copying it).
    """

    def __init__(self, options: AugmentOptions = AugmentOptions()):
        self.options = options
        # Private: seeding it in place must not touch the caller's augmenter.
        self._recipe = canonical_recipe((options.recipe if options.recipe is not None else article_recipe()).deepcopy())

    def flips(self, labels: Iterable[str | None], seed: int) -> bool:
        """Whether ``seed`` flips a clip holding these labels (known before any pixel is touched)."""
        return self._draw(seed)[0] and all(self.options.flip_map.can_flip(lab) for lab in labels)

    def augment(self, frames: np.ndarray, label: str | None, seed: int) -> tuple[np.ndarray, str | None]:
        """(T, H, W, 3) uint8 frames of one window/clip -> augmented frames and the (flip-mapped) label."""
        flip = self.flips([label], seed)
        return self.transform(frames, flip, seed), (self.options.flip_map.flip(label) if flip else label)

    def augment_labeled(self, frames: np.ndarray, labels: list[str], seed: int) -> tuple[np.ndarray, list[str]]:
        """Like ``augment`` for an annotated video: one label per frame, all mapped if the clip is flipped."""
        if len(labels) != len(frames):
            raise ActionrecError(f"got {len(labels)} frame labels for {len(frames)} frames; expected one per frame")
        flip = self.flips(set(labels), seed)
        mapped = [self.options.flip_map.flip(lab) for lab in labels] if flip else list(labels)
        return self.transform(frames, flip, seed), mapped

    def transform(self, frames: np.ndarray, flip: bool, seed: int) -> np.ndarray:
        """The pixels only: optional mirror, then the recipe frozen by ``seed``, then per-frame noise."""
        frames = _check_frames(frames)
        _, recipe_seed, noise_rng = self._draw(seed)
        # Prefetching keeps buffers of samples inside parameters: hidden state that would make the output
        # depend on earlier calls.
        with iap.no_prefetching():
            self._recipe.seed_(recipe_seed)
            frozen = self._recipe.to_deterministic()
            out = np.stack([frozen.augment_image(np.ascontiguousarray(f[:, ::-1]) if flip else f) for f in frames])
        if self.options.noise_sigma > 0:
            noise = noise_rng.normal(0.0, self.options.noise_sigma, size=out.shape)
            out = np.clip(np.rint(out + noise), 0, 255).astype(np.uint8)
        return out

    def _draw(self, seed: int) -> tuple[bool, int, np.random.Generator]:
        if not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ActionrecError(f"augmentation seed must be an integer >= 0, got {seed!r}")
        rng = np.random.default_rng(seed)
        # Always the same draws in the same order, so a label that cannot flip changes nothing else.
        coin = bool(rng.random() < self.options.flip_probability)
        return coin, int(rng.integers(2**32)), rng


def _check_frames(frames: np.ndarray) -> np.ndarray:
    if not (isinstance(frames, np.ndarray) and frames.dtype == np.uint8 and frames.ndim == 4 and frames.shape[-1] == 3):
        got = f"{frames.dtype} {frames.shape}" if isinstance(frames, np.ndarray) else type(frames).__name__
        raise ActionrecError(f"frames: expected a uint8 array of shape (T, H, W, 3), got {got}")
    if len(frames) == 0:
        raise ActionrecError("frames: expected at least one frame, got none")
    return frames


