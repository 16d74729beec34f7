"""Learned track embeddings from audio features: a genre network and an autoencoder.

Both read the content model's encoding of the audio features (rank-based normal scores,
key on the circle of fifths, down-weighted key and mode; `recommender.content`) and map a
track to a short vector:

- "genre-net": features -> hidden layer -> embedding layer -> one logit per genre, trained
  with binary cross-entropy (a track can have several genres and subgenres). The embedding
  layer is what the network found useful for telling genres apart. Only tracks with a
  genre teach it; genres on too few tracks are left out.
- "autoencoder": features -> hidden -> bottleneck -> hidden -> features, mean squared
  error. It needs no genres: a non-linear PCA.

Training runs in PyTorch on the CPU (seeded, a set number of threads, a few seconds on
32k tracks) and stops early when the loss on a held-out share of the tracks stops
improving; the best weights are kept. The trained layers up to the embedding are then kept
as numpy arrays and run in numpy, so a saved encoder needs no torch to load or to embed,
and gives the same vectors after loading. Scaling uses knots of each feature's ranks in
the training catalog, so a track added later is scaled as the catalog's tracks were and
gets a vector with no retraining.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from recommender.artifacts import Arrays, read_artifact, write_artifact
from recommender.data import FloatArray, ItemCatalog
from recommender.features import CATEGORICAL_WEIGHTS, KEY, categorical_columns

if TYPE_CHECKING:
    import torch

BoolArray = npt.NDArray[np.bool_]
Representation = Literal["genre-net", "autoencoder"]
REPRESENTATIONS: tuple[str, ...] = ("genre-net", "autoencoder")
ARTIFACT_KIND = "track-encoder"
# A feature's scaling remembers at most this many (value, rank) knots: exact for the
# catalog's own values up to that many distinct ones, interpolated beyond.
MAX_KNOTS = 4_096
ACTIVATIONS = ("relu", "tanh", "linear")


@dataclass(frozen=True)
class EncoderTraining:
    """Knobs of training; the defaults are the measured choices (docs/benchmarks.md)."""

    hidden: int = 64
    # Embedding size; 0 picks the representation's own default (see `dimensions_for`).
    dimensions: int = 0
    epochs: int = 200
    patience: int = 5  # epochs without a better validation loss before stopping
    min_improvement: float = 1e-4  # what counts as better
    batch_size: int = 1024
    learning_rate: float = 1e-2
    weight_decay: float = 1e-4
    validation_share: float = 0.1
    min_genre_tracks: int = 5  # genres on fewer training tracks are not predicted
    threads: int = 1
    max_missing_share: float = 0.5  # as the content model: sparser features are dropped

    def __post_init__(self) -> None:
        if self.hidden < 1 or self.dimensions < 0:
            raise ValueError("hidden must be positive and dimensions not negative")
        if self.epochs < 1 or self.patience < 1 or self.batch_size < 1 or self.threads < 1:
            raise ValueError("epochs, patience, batch_size and threads must be positive")
        if not 0 < self.validation_share < 1:
            raise ValueError("validation_share must be in (0, 1)")

    def dimensions_for(self, representation: str) -> int:
        if self.dimensions:
            return self.dimensions
        return 32 if representation == "genre-net" else 8

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> EncoderTraining:
        known = {field.name for field in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise TypeError(
                f"unknown encoder option(s): {', '.join(unknown)} "
                f"(known: {', '.join(sorted(known))})"
            )
        return cls(**options)


# --- scaling ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeatureScaler:
    """The content model's encoding of audio features, fitted once and applicable to any
    later track: continuous features through their rank knots onto a standard normal,
    categorical ones as `recommender.content.categorical_columns` encodes them."""

    used: tuple[str, ...]
    medians: FloatArray  # per used feature: what a missing value becomes
    knots: tuple[FloatArray, ...]  # per used feature: sorted values (empty: categorical)
    levels: tuple[FloatArray, ...]  # per used feature: their rank share in (0, 1)

    @classmethod
    def fit(
        cls, features: FloatArray, feature_names: Sequence[str], max_missing_share: float
    ) -> FeatureScaler:

        raw = np.asarray(features, dtype=np.float64)
        # Over the tracks that have any feature (tracks outside the catalog have none).
        described = ~np.isnan(raw).all(axis=1)
        if described.any():
            missing_share = np.isnan(raw[described]).mean(axis=0)
        else:
            missing_share = np.ones(raw.shape[1])
        keep = missing_share <= max_missing_share
        used = tuple(name for name, kept in zip(feature_names, keep, strict=True) if kept)
        values = raw[:, keep]
        values = values[~np.isnan(values).all(axis=1)] if used else values[:0]
        medians = np.nanmedian(values, axis=0) if len(values) else np.zeros(len(used))
        knots, levels = [], []
        for position, name in enumerate(used):
            column = values[:, position]
            column = np.where(np.isnan(column), medians[position], column)
            if name in CATEGORICAL_WEIGHTS or len(column) < 2:
                knots.append(np.zeros(0))
                levels.append(np.zeros(0))
                continue
            value_knots, shares = _rank_knots(column)
            knots.append(value_knots)
            levels.append(shares)
        return cls(used, np.asarray(medians, dtype=np.float64), tuple(knots), tuple(levels))

    @property
    def width(self) -> int:

        return sum(2 if name == KEY else 1 for name in self.used)

    def transform(
        self, features: FloatArray, feature_names: Sequence[str]
    ) -> tuple[npt.NDArray[np.float32], BoolArray]:
        """Rows x encoded columns (zero rows where a track has none of the used features),
        and which rows have features."""
        from scipy.special import ndtri

        raw = np.asarray(features, dtype=np.float64).reshape(-1, len(feature_names))
        position = {name: index for index, name in enumerate(feature_names)}
        values = np.column_stack(
            [
                raw[:, position[name]] if name in position else np.full(len(raw), np.nan)
                for name in self.used
            ]
            or [np.zeros((len(raw), 0))]
        )
        has_vector = ~np.isnan(values).all(axis=1) if self.used else np.zeros(len(raw), bool)
        values = np.where(np.isnan(values), self.medians, values)
        columns: list[FloatArray] = []
        for index, name in enumerate(self.used):
            column = values[:, index]
            categorical = categorical_columns(name, column)
            if categorical is not None:
                columns.extend(categorical)
            elif len(self.knots[index]) == 0:
                columns.append(np.zeros(len(column)))
            else:
                shares = np.interp(column, self.knots[index], self.levels[index])
                columns.append(ndtri(shares))
        matrix = np.column_stack(columns) if columns else np.zeros((len(raw), 0))
        matrix[~has_vector] = 0.0
        return matrix.astype(np.float32), has_vector

    def state(self) -> tuple[dict[str, Any], Arrays]:
        arrays: Arrays = {"scaler_medians": self.medians}
        for index, (knots, levels) in enumerate(zip(self.knots, self.levels, strict=True)):
            arrays[f"scaler_knots_{index}"] = knots
            arrays[f"scaler_levels_{index}"] = levels
        return {"used": list(self.used)}, arrays

    @classmethod
    def from_state(cls, params: dict[str, Any], arrays: Arrays) -> FeatureScaler:
        count = len(params["used"])
        return cls(
            tuple(params["used"]),
            arrays["scaler_medians"],
            tuple(arrays[f"scaler_knots_{index}"] for index in range(count)),
            tuple(arrays[f"scaler_levels_{index}"] for index in range(count)),
        )


def _rank_knots(column: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Each distinct value and its mean rank share ((rank - 0.5) / n, ties averaged, as
    `recommender.content.normal_scores`), thinned to MAX_KNOTS evenly spaced by rank."""
    values, counts = np.unique(column, return_counts=True)
    ends = np.cumsum(counts)
    mean_ranks = ends - (counts - 1) / 2.0  # 1-based average rank of each distinct value
    shares = (mean_ranks - 0.5) / len(column)
    if len(values) > MAX_KNOTS:
        keep = np.unique(np.linspace(0, len(values) - 1, MAX_KNOTS).round().astype(np.int64))
        values, shares = values[keep], shares[keep]
    return values.astype(np.float64), shares.astype(np.float64)


# --- the encoder --------------------------------------------------------------------------


@dataclass(frozen=True)
class Layer:
    weight: npt.NDArray[np.float32]  # inputs x outputs
    bias: npt.NDArray[np.float32]
    activation: str

    def __call__(self, inputs: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        outputs = inputs @ self.weight + self.bias
        if self.activation == "relu":
            return np.maximum(outputs, 0, out=outputs)
        if self.activation == "tanh":
            return np.tanh(outputs, out=outputs)
        return outputs


@dataclass(frozen=True)
class TrackEncoder:
    """Audio features -> embedding, for any track with audio features. `report` says how
    training went (epochs, losses, genres predicted)."""

    representation: str
    scaler: FeatureScaler
    layers: tuple[Layer, ...]
    report: dict[str, Any]

    @property
    def dimensions(self) -> int:
        return int(self.layers[-1].weight.shape[1]) if self.layers else 0

    def embed(
        self, features: FloatArray, feature_names: Sequence[str]
    ) -> tuple[npt.NDArray[np.float32], BoolArray]:
        """One vector per row of `features` (columns named by `feature_names`; a feature
        the encoder uses but the rows lack counts as missing) and which rows have one;
        rows without any used feature get zeros."""
        inputs, has_vector = self.scaler.transform(features, feature_names)
        vectors = inputs
        for layer in self.layers:
            vectors = layer(vectors)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        vectors[~has_vector] = 0.0
        return vectors, has_vector

    def embed_catalog(self, catalog: ItemCatalog) -> tuple[npt.NDArray[np.float32], BoolArray]:
        return self.embed(catalog.features, catalog.feature_names)

    # --- persistence ----------------------------------------------------------------------

    def state(self) -> tuple[dict[str, Any], Arrays]:
        scaler_params, arrays = self.scaler.state()
        for index, layer in enumerate(self.layers):
            arrays[f"layer_{index}_weight"] = layer.weight
            arrays[f"layer_{index}_bias"] = layer.bias
        params = {
            "representation": self.representation,
            "scaler": scaler_params,
            "activations": [layer.activation for layer in self.layers],
            "report": self.report,
        }
        return params, arrays

    @classmethod
    def from_state(cls, params: dict[str, Any], arrays: Arrays) -> TrackEncoder:
        layers = tuple(
            Layer(
                arrays[f"layer_{index}_weight"].astype(np.float32),
                arrays[f"layer_{index}_bias"].astype(np.float32),
                activation,
            )
            for index, activation in enumerate(params["activations"])
        )
        return cls(
            params["representation"],
            FeatureScaler.from_state(params["scaler"], arrays),
            layers,
            dict(params["report"]),
        )

    def save(self, directory: Path) -> Path:
        params, arrays = self.state()
        return write_artifact(directory, ARTIFACT_KIND, params, arrays)

    @classmethod
    def load(cls, directory: Path) -> TrackEncoder:
        params, arrays = read_artifact(directory, ARTIFACT_KIND)
        return cls.from_state(params, arrays)


# --- training -----------------------------------------------------------------------------


def fit_encoder(
    representation: str, catalog: ItemCatalog, seed: int = 0, **options: Any
) -> TrackEncoder:
    """Train the `representation` encoder on `catalog` (its features, and for the genre
    network its genres). Tracks without features are ignored; a genre network with no
    genre to learn (or an empty catalog) falls back to the autoencoder's objective."""
    if representation not in REPRESENTATIONS:
        raise ValueError(
            f"representation must be one of {', '.join(REPRESENTATIONS)}, got {representation!r}"
        )
    training = EncoderTraining.from_options(options)
    scaler = FeatureScaler.fit(catalog.features, catalog.feature_names, training.max_missing_share)
    inputs, has_vector = scaler.transform(catalog.features, catalog.feature_names)
    rows = np.flatnonzero(has_vector)
    if representation == "genre-net":
        targets, genres = _genre_targets(catalog, rows, training.min_genre_tracks)
        labelled = targets.any(axis=1)
        if genres:
            return _train(
                representation,
                scaler,
                inputs[rows[labelled]],
                targets[labelled],
                genres,
                training,
                seed,
            )
    return _train(representation, scaler, inputs[rows], inputs[rows], [], training, seed)


def _genre_targets(
    catalog: ItemCatalog, rows: npt.NDArray[np.int64], min_tracks: int
) -> tuple[npt.NDArray[np.float32], list[str]]:
    """Multi-hot genres of `rows`, keeping genres held by at least `min_tracks` of them."""
    counts: dict[str, int] = {}
    for row in rows.tolist():
        for genre in catalog.genres[row]:
            counts[genre] = counts.get(genre, 0) + 1
    genres = sorted(genre for genre, count in counts.items() if count >= min_tracks)
    position = {genre: index for index, genre in enumerate(genres)}
    targets = np.zeros((len(rows), len(genres)), dtype=np.float32)
    for target, row in enumerate(rows.tolist()):
        for genre in catalog.genres[row]:
            if genre in position:
                targets[target, position[genre]] = 1.0
    return targets, genres


@contextmanager
def _torch_threads(threads: int) -> Iterator[None]:
    """torch's thread count is process-wide: set it for training, then put it back."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _train(
    representation: str,
    scaler: FeatureScaler,
    inputs: npt.NDArray[np.float32],
    targets: npt.NDArray[np.float32],
    genres: list[str],
    training: EncoderTraining,
    seed: int,
) -> TrackEncoder:
    import torch

    dimensions = training.dimensions_for(representation)
    supervised = bool(genres)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(inputs))
    held = max(1, round(len(inputs) * training.validation_share)) if len(inputs) > 1 else 0
    valid, train = order[:held], order[held:]
    with _torch_threads(training.threads):
        torch.manual_seed(seed)
        encoder, head = _networks(
            scaler.width, training.hidden, dimensions, targets.shape[1], supervised
        )
        model = torch.nn.Sequential(encoder, head)
        loss = torch.nn.BCEWithLogitsLoss() if supervised else torch.nn.MSELoss()
        progress = _fit(model, loss, inputs, targets, train, valid, training, rng)
    report = {
        "representation": representation,
        "objective": "genres" if supervised else "reconstruction",
        "dimensions": dimensions,
        "hidden": training.hidden,
        "training_tracks": len(train),
        "validation_tracks": len(valid),
        "genres": len(genres),
        **progress,
        "seed": seed,
        "training": asdict(training),
    }
    return TrackEncoder(representation, scaler, _numpy_layers(encoder), report)


def _fit(
    model: torch.nn.Module,
    loss: torch.nn.Module,
    inputs: npt.NDArray[np.float32],
    targets: npt.NDArray[np.float32],
    train: npt.NDArray[np.int64],
    valid: npt.NDArray[np.int64],
    training: EncoderTraining,
    rng: np.random.Generator,
) -> dict[str, Any]:
    """Mini-batch Adam on the `train` rows until the loss on the `valid` rows has not
    improved for `patience` epochs; leaves `model` with its best weights."""
    import torch

    x, y = torch.from_numpy(inputs), torch.from_numpy(targets)
    watched = torch.from_numpy(valid if len(valid) else train)
    optimiser = torch.optim.Adam(
        model.parameters(), lr=training.learning_rate, weight_decay=training.weight_decay
    )
    best_loss, best_state, best_epoch, epochs = math.inf, _copy(model), 0, 0
    for epoch in range(1, training.epochs + 1 if len(train) else 1):
        epochs = epoch
        model.train()
        shuffled = train[rng.permutation(len(train))]
        for start in range(0, len(shuffled), training.batch_size):
            batch = torch.from_numpy(shuffled[start : start + training.batch_size])
            optimiser.zero_grad()
            loss(model(x[batch]), y[batch]).backward()
            optimiser.step()
        model.eval()
        with torch.no_grad():
            loss_now = float(loss(model(x[watched]), y[watched]))
        if loss_now < best_loss - training.min_improvement:
            best_loss, best_state, best_epoch = loss_now, _copy(model), epoch
        elif epoch - best_epoch >= training.patience:
            break
    model.load_state_dict(best_state)
    return {
        "epochs": epochs,
        "best_epoch": best_epoch,
        "validation_loss": round(best_loss, 5) if math.isfinite(best_loss) else None,
    }


def _networks(
    inputs: int, hidden: int, dimensions: int, outputs: int, supervised: bool
) -> tuple[torch.nn.Sequential, torch.nn.Sequential]:
    """The encoder (features -> embedding) and the head that trains it (-> genre logits,
    or back to the features)."""
    import warnings

    from torch import nn

    with warnings.catch_warnings():
        # A catalog without features gives zero-width layers: nothing to learn or warn about.
        warnings.filterwarnings("ignore", "Initializing zero-element tensors", UserWarning)
        first = nn.Linear(inputs, hidden)
        if supervised:
            encoder = nn.Sequential(first, nn.ReLU(), nn.Linear(hidden, dimensions), nn.Tanh())
            return encoder, nn.Sequential(nn.Linear(dimensions, outputs))
        encoder = nn.Sequential(first, nn.ReLU(), nn.Linear(hidden, dimensions))
        decoder = nn.Sequential(nn.Linear(dimensions, hidden), nn.ReLU(), nn.Linear(hidden, inputs))
    return encoder, decoder


def _copy(model: torch.nn.Module) -> dict[str, Any]:
    return {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}


def _numpy_layers(encoder: torch.nn.Sequential) -> tuple[Layer, ...]:
    """The encoder's linear layers as numpy, each with the activation that follows it."""
    from torch import nn

    layers: list[Layer] = []
    modules = list(encoder)
    for index, module in enumerate(modules):
        if not isinstance(module, nn.Linear):
            continue
        following = modules[index + 1] if index + 1 < len(modules) else None
        activation = (
            "relu"
            if isinstance(following, nn.ReLU)
            else "tanh"
            if isinstance(following, nn.Tanh)
            else "linear"
        )
        layers.append(
            Layer(
                module.weight.detach().numpy().T.astype(np.float32).copy(),
                module.bias.detach().numpy().astype(np.float32).copy(),
                activation,
            )
        )
    return tuple(layers)
