"""The hybrid: what a member actually sees, from how much Earworm knows about them.

Four tiers by a member's positive feedback (likes, loves, good ratings, plays):

- **cold** (none): what is popular (listeners on Earworm, then the catalog's popularity),
  with onboarding variety: at most two tracks of one genre and two of one artist in ten.
- **light** (fewer than `threshold`): content similarity to what they liked, blended with
  popularity; a collaborative model knows too little of them yet.
- **warm** (`threshold` or more): the collaborative models (ALS, NCF, ...) blended with
  content similarity and popularity.
- **rich** (`rich_from` or more, e.g. an imported listening history): the same groups, but
  weighted for a member whose own listening says a lot: their artists and the
  collaborative models more, popularity and the bounded content profile less.

Light and warm members' blends also hold **artists** when the catalog names artists: more
from the artists they keep coming back to (two or more of their liked or played tracks),
and from artists played alongside the ones they like (recommender.artists). That is what
a listening history says most plainly, and what collaborative models learn last.

Each model's scores are standardised per member (recommender.blend) and added with the
tier's weights. Weights are chosen by NDCG@10 on a validation split carved from the
training rows (one liked track held out per member, the harness's leave-one-out: holding
out a fifth instead gave more hits but weaker components to tune with, and weights that
leaned on popularity), the components fitted on the rest, every weight vector on a 0.1
grid compared (coarse to fine past 300 vectors: recommender.blend.search_weights); then
every component is refitted on all rows. A tier with too few validation members keeps its
default weights, and the tuning record says so.

A track nobody has liked yet is unknown to the collaborative models, and they rank it
with their least likely tracks (see UNSCORED): a brand-new track reaches people through
content similarity.
Every result says why, in the words of the component that contributed most to it.
"""

from __future__ import annotations

import copy
import importlib
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recommender.artifacts import ARRAYS, MANIFEST, Arrays, ArtifactError, write_artifact
from recommender.base import Recommendation, Recommender, check_k, top_k
from recommender.blend import Fill, search_weights, standardise
from recommender.data import Interactions, ItemCatalog, row_items, seen_and_liked
from recommender.diversity import ARTIST_WINDOW, diversify
from recommender.vocab import Vocabulary

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
# Members, what each has seen and what each liked (users x items), for `with_member`.
MemberRows = tuple[Vocabulary, sp.csr_matrix, sp.csr_matrix]

TIERS = ("light", "warm", "rich")
DEFAULT_THRESHOLD = 5
# Positive tracks from which a member's own history leads the blend (the rich tier): about
# what a few hours of imported listening gives, far more than reacting to cards does
# (the simulated members reach 5-10 likes in five rounds).
DEFAULT_RICH_FROM = 20
# Before tuning, and for a tier with too few validation members to tune on.
# Shares of the collaborative models (split evenly between them), content, artists and
# popularity.
# Artists' warm share: validation on real playlists (earworm eval, spotify-playlists)
# chose artists 0.6-0.7 and ALS 0, but that dataset has 470 members where a server has
# thousands for ALS to learn from (docs/benchmarks.md, "Artists in the blend").
# Rich: that validation's members are rich (whole playlists), so their artists lead here,
# with ALS kept near its warm share for what a server's many members teach it.
DEFAULT_SHARES = {
    "light": {"collaborative": 0.0, "content": 0.5, "artists": 0.2, "pop": 0.3},
    "warm": {"collaborative": 0.4, "content": 0.2, "artists": 0.3, "pop": 0.1},
    "rich": {"collaborative": 0.3, "content": 0.15, "artists": 0.5, "pop": 0.05},
}
# A catalog that names no artists: the blend as it was before artists existed (rich
# members blend as warm ones).
SHARES_WITHOUT_ARTISTS = {
    "light": {"collaborative": 0.0, "content": 0.7, "artists": 0.0, "pop": 0.3},
    "warm": {"collaborative": 0.6, "content": 0.3, "artists": 0.0, "pop": 0.1},
    "rich": {"collaborative": 0.6, "content": 0.3, "artists": 0.0, "pop": 0.1},
}
# Blend groups that are not collaborative models.
OWN_GROUPS = ("content", "artists", "pop")
MIN_TUNING_USERS = 30
# Held-out (member, track) pairs scored per tier: bounds memory (pairs x tracks x models).
MAX_TUNING_PAIRS = 1_500

GRID_STEP = 0.1
# How much the catalog's own popularity adds to listeners on Earworm for cold members.
CATALOG_PRIOR = 0.5
MAX_PER_GENRE_COLD = 2
# Candidates examined per requested result before the diversity rules run out of them.
POOL_PER_RESULT = 5

# Component kinds and where their classes live (imported only when used: torch is slow).
COMPONENT_CLASSES = {
    "als": ("recommender.als", "ALS"),
    "bpr": ("recommender.bpr", "BPR"),
    "ncf": ("recommender.ncf", "NCF"),
    "itemknn": ("recommender.itemknn", "ItemKNN"),
    "content": ("recommender.content", "ContentSimilarity"),
    "artists": ("recommender.artists", "ArtistRelations"),
    "pop": ("recommender.popularity", "Popularity"),
}
# What a model's row gives an item it cannot score (recommender.blend): "lowest" for all.
# A collaborative model cannot score a track nobody has liked; counting that as average
# ("neutral") would favour such tracks over the many liked-but-unlikely ones, and in a
# dataset whose catalog is its own tracks, "nobody has liked it" is exactly "held out for
# the test" (docs/benchmarks.md): a leak. So brand-new tracks rise through content alone.
UNSCORED: Fill = "lowest"


def component_class(kind: str) -> type[Recommender]:
    try:
        module, name = COMPONENT_CLASSES[kind]
    except KeyError:
        raise ValueError(
            f"unknown hybrid component {kind!r}; choose from {', '.join(COMPONENT_CLASSES)}"
        ) from None
    cls: type[Recommender] = getattr(importlib.import_module(module), name)
    return cls


def _has_audio_features(catalog: ItemCatalog | None) -> bool:
    return catalog is not None and len(catalog) > 0 and bool(np.isfinite(catalog.features).any())


def has_artists(catalog: ItemCatalog | None) -> bool:
    """Whether the catalog names a main artist for any track (the blend's artists need it)."""
    return catalog is not None and any(artists and artists[0] for artists in catalog.artists)


@dataclass(frozen=True)
class _Rows:
    """One batch of members: each component's standardised scores over the universe."""

    users: list[str]
    z: dict[str, npt.NDArray[np.float32]]
    # Each component's raw scores: finite where it really scored the item (only the picks'
    # reasons ask, so no mask over the universe is worked out for them).
    raw: dict[str, npt.NDArray[np.floating]]

    def scored(self, group: str, position: int, item: int) -> bool:
        return bool(np.isfinite(self.raw[group][position, item]))


def universe(catalog: ItemCatalog | None, items: npt.NDArray[np.str_]) -> Vocabulary:
    """The items a hybrid ranks: the catalog's, then any other item of `items` in order.
    The catalog's own vocabulary when `items` adds none (every swap: building a second
    copy of 90k ids held the GIL for tens of milliseconds)."""
    if catalog is None:
        return Vocabulary(items)
    extra = items[catalog.vocab.indices(items) < 0]
    if not len(extra):
        return catalog.vocab
    return Vocabulary(np.concatenate([catalog.ids, extra]))


class Hybrid(Recommender):
    """Tiered blend of collaborative models, content similarity and popularity."""

    kind = "hybrid"

    def __init__(
        self,
        *,
        seed: int = 0,
        collaborative: Sequence[str] = ("als",),
        content_mode: str = "genre",
        threshold: int = DEFAULT_THRESHOLD,
        rich_from: int = DEFAULT_RICH_FROM,
        weights: Mapping[str, Mapping[str, float]] | None = None,
        grid_step: float = GRID_STEP,
    ) -> None:
        if isinstance(collaborative, str):
            collaborative = (collaborative,)
        for kind in collaborative:
            if kind in OWN_GROUPS:
                raise ValueError(f"{kind!r} is not a collaborative model")
            component_class(kind)  # fails early on an unknown kind
        if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 1:
            raise ValueError(f"threshold must be a positive integer, got {threshold!r}")
        if isinstance(rich_from, bool) or not isinstance(rich_from, int) or rich_from <= threshold:
            raise ValueError(
                f"rich_from must be an integer above the threshold ({threshold}), got {rich_from!r}"
            )
        if not 0 < grid_step <= 0.5:
            raise ValueError(f"grid_step must be in (0, 0.5], got {grid_step!r}")

        self.seed = int(seed)
        self.collaborative_kinds = tuple(dict.fromkeys(collaborative))
        self.content_mode = content_mode
        self.threshold = threshold
        self.rich_from = rich_from
        self.grid_step = grid_step
        self.fixed_weights = (
            _checked_weights(weights, self.collaborative_kinds) if weights is not None else None
        )
        self.weights: dict[str, dict[str, float]] = {}
        self.tuning: dict[str, Any] = {}
        self.components: dict[str, Recommender] = {}
        self._catalog: ItemCatalog | None = None
        self._items = Vocabulary([])
        self._users = Vocabulary([])
        self._liked = sp.csr_matrix((0, 0), dtype=np.float32)
        self._seen = sp.csr_matrix((0, 0), dtype=np.float32)
        self._columns: dict[str, IntArray] = {}  # universe index -> component index (-1)
        # Per component: the columns it was worked out from, and where its scores go in the
        # universe (see `_mapped`).
        self._mapping: dict[str, tuple[IntArray, tuple[IntArray, IntArray] | None]] = {}
        self._cold_row = np.zeros(0, dtype=np.float32)
        self._listeners = np.zeros(0)  # per universe item; NaN where nobody played it
        self._pop_z = np.zeros(0, dtype=np.float32)

    # --- fitting ----------------------------------------------------------------------------

    def fit(self, interactions: Interactions, catalog: ItemCatalog | None = None) -> Self:
        if self.fixed_weights is not None:
            self.weights = {tier: dict(w) for tier, w in self.fixed_weights.items()}
            self.tuning = {"chosen": self.weights, "note": "weights given, not tuned"}
        else:
            self.tuning = self._tune(interactions, catalog)
            self.weights = self.tuning["chosen"]
        components = self._fit_components(interactions, catalog, self.seed)
        self._assemble(components, interactions, catalog)
        if not self.weights:
            self.weights = self.default_weights()
        return self

    @classmethod
    def compose(
        cls,
        components: Mapping[str, Recommender],
        interactions: Interactions,
        catalog: ItemCatalog | None = None,
        *,
        weights: Mapping[str, Mapping[str, float]] | None = None,
        threshold: int = DEFAULT_THRESHOLD,
        rich_from: int = DEFAULT_RICH_FROM,
    ) -> Self:
        """A serving hybrid from components fitted elsewhere (e.g. the active ALS and NCF
        of the model registry and the cached content model); popularity and members'
        histories come from `interactions`. Nothing is tuned: `weights` or the defaults.

        Weights of a model that is not among `components` (e.g. tuned with an NCF that is
        no longer active) are dropped; a tier left with no weight gets the defaults. Weights
        tuned before the rich tier existed serve rich members with the warm ones."""
        collaborative = [kind for kind in components if kind not in OWN_GROUPS]
        model = cls(collaborative=collaborative, threshold=threshold, rich_from=rich_from)
        fitted = dict(components)
        if "pop" not in fitted:
            fitted["pop"] = component_class("pop")().fit(interactions, catalog)
        model._assemble(fitted, interactions, catalog)
        defaults = model.default_weights()
        groups = set(model.blend_groups())
        model.weights = {}
        weights = with_rich_tier(weights) if weights is not None else None
        for tier in TIERS:
            given = {g: float(w) for g, w in (weights or {}).get(tier, {}).items() if g in groups}
            model.weights[tier] = given if sum(given.values()) > 0 else defaults[tier]
        if weights is not None:
            _checked_weights(model.weights, collaborative)
        model.tuning = {"chosen": model.weights, "note": "composed from fitted components"}
        return model

    # --- serving one member at a time --------------------------------------------------------

    def with_popularity(self, pop: Recommender) -> Self:
        """The same hybrid with another popularity component (e.g. listener counts updated
        from new feedback): only what depends on popularity is worked out again, O(items)."""
        twin = copy.copy(self)
        twin.components = {**self.components, "pop": pop}
        twin._columns = dict(self._columns)
        if pop.item_vocab is not self.components["pop"].item_vocab:
            twin._columns["pop"] = twin._columns_of(pop)
        twin._listeners = twin._scores_of("pop", ["\0"])[0]
        twin._pop_z = standardise(np.log1p(np.maximum(twin._listeners, 0.0))[None, :], UNSCORED)[0]
        twin._cold_row = twin._cold_scores()
        return twin

    def with_member(
        self,
        interactions: Interactions,
        components: Mapping[str, Recommender] | None = None,
        rows: MemberRows | None = None,
    ) -> Self:
        """The same hybrid serving the members of `interactions` (typically one member and
        their own feedback), with member-side `components` in place of the shared ones
        (ALS folded in on their feedback, content with their profile): nothing item-side is
        worked out again, so this costs in proportion to their feedback, not everyone's.

        A replacement must rank the same items in the same order as the one it replaces
        (it is the same fitted model with its user side swapped). `rows`: what
        `member_rows` gave for these interactions earlier (then nothing is worked out)."""
        components = components or {}
        twin = copy.copy(self)
        twin.components = {**self.components, **components}
        for name, model in components.items():
            if model.item_vocab is not self.components[name].item_vocab:
                raise ValueError(f"the member's {name} must share the fitted {name}'s items")
        twin._users, twin._seen, twin._liked = (
            rows if rows is not None else self.member_rows(interactions)
        )
        return twin

    def member_rows(self, interactions: Interactions) -> MemberRows:
        """What `with_member` works out from the members' feedback (who they are, what they
        have seen and liked, over this hybrid's items): keep it to serve them again at once,
        for as long as these items serve."""
        users = interactions.user_vocab
        seen, liked = seen_and_liked(interactions.matrix(users, self._items))
        return users, seen, liked

    def _fit_components(
        self, interactions: Interactions, catalog: ItemCatalog | None, seed: int
    ) -> dict[str, Recommender]:
        components: dict[str, Recommender] = {}
        for kind in self.collaborative_kinds:
            components[kind] = component_class(kind)(seed=seed).fit(interactions, catalog)  # type: ignore[call-arg]
        if _has_audio_features(catalog):
            content = component_class("content")(mode=self.content_mode, seed=seed)  # type: ignore[call-arg]
            components["content"] = content.fit(interactions, catalog)
        if has_artists(catalog):
            from recommender.artists import ArtistRelations

            # Members' own baskets only: the blend's artists as fitted here, leak-free.
            relations = ArtistRelations(seed=seed).fit(interactions, catalog)
            components["artists"] = relations.serving_blend()
        components["pop"] = component_class("pop")().fit(interactions, catalog)
        return components

    def _assemble(
        self,
        components: Mapping[str, Recommender],
        interactions: Interactions,
        catalog: ItemCatalog | None,
    ) -> None:
        self.components = dict(components)
        self._catalog = catalog
        self._items = universe(catalog, interactions.items)
        self._users = interactions.user_vocab
        self._seen, self._liked = seen_and_liked(interactions.matrix(self._users, self._items))
        self._derive()

    def _derive(self) -> None:
        """What every member's request reads, worked out once from the components: where
        each component's items sit in the universe, and the popularity rows (the same for
        every member)."""
        self._columns = {name: self._columns_of(model) for name, model in self.components.items()}
        self._listeners = self._scores_of("pop", ["\0"])[0]
        self._pop_z = standardise(np.log1p(np.maximum(self._listeners, 0.0))[None, :], UNSCORED)[0]
        self._cold_row = self._cold_scores()

    def _columns_of(self, model: Recommender) -> IntArray:
        """Where each universe item sits in `model`'s items (-1: not there). A model over
        the universe's own ids needs no lookup: mapping 90k ids holds the GIL for tens of
        milliseconds, at every swap."""
        vocab = model.item_vocab
        if vocab == self._items:
            return np.arange(len(vocab), dtype=np.int64)
        return vocab.indices(self._items.ids)

    def _cold_scores(self) -> npt.NDArray[np.float32]:
        """Listeners on Earworm, then (with a catalog) the catalog's own popularity."""
        total = self._pop_z
        if self._catalog is not None and len(self._catalog):
            prior = np.full(len(self._items), np.nan)
            prior[: len(self._catalog)] = self._catalog.popularity
            total = total + CATALOG_PRIOR * standardise(prior[None, :], "lowest")[0]
        return total.astype(np.float32)

    # --- tuning -----------------------------------------------------------------------------

    def _tune(self, interactions: Interactions, catalog: ItemCatalog | None) -> dict[str, Any]:
        from recommender.evaluation.splits import leave_one_out

        try:
            split = leave_one_out(interactions, seed=self.seed, min_interactions=2)
        except ValueError as exc:
            return {"chosen": {}, "note": f"defaults, not tuned: {exc}"}
        if len(split.test) == 0:
            return {"chosen": {}, "note": "defaults, not tuned: no member has two liked items"}
        probe = type(self)(
            seed=self.seed,
            collaborative=self.collaborative_kinds,
            content_mode=self.content_mode,
            threshold=self.threshold,
            rich_from=self.rich_from,
        )
        probe._assemble(
            probe._fit_components(split.train, catalog, self.seed), split.train, catalog
        )
        defaults = probe.default_weights()
        record: dict[str, Any] = {"seed": self.seed, "metric": "ndcg@10", "tiers": {}}
        chosen: dict[str, dict[str, float]] = {}
        # One row per held-out (member, track) pair; a member's other held-out tracks count
        # as ordinary candidates there, the same for every weight vector compared.
        pair_users = np.asarray(split.test.users)
        targets = probe._items.indices(split.test.items.tolist())
        tiers = np.asarray([probe.tier_of(str(user)) for user in pair_users])
        rng = np.random.default_rng(self.seed)
        names = probe.blend_groups()
        for tier in TIERS:
            pairs = np.flatnonzero(tiers == tier)
            members = len(np.unique(pair_users[pairs]))
            if len(pairs) > MAX_TUNING_PAIRS:
                pairs = np.sort(rng.choice(pairs, MAX_TUNING_PAIRS, replace=False))
            if members < MIN_TUNING_USERS or len(names) < 2:
                chosen[tier] = defaults[tier]
                record["tiers"][tier] = {
                    "validation_users": members,
                    "note": f"kept the defaults (fewer than {MIN_TUNING_USERS} members to "
                    "tune on, or nothing to blend)",
                }
                continue
            users, row_of_pair = np.unique(pair_users[pairs], return_inverse=True)
            rows = probe._rows([str(user) for user in users])
            stacks = [np.ascontiguousarray(rows.z[name][row_of_pair]) for name in names]
            excluded = np.zeros((len(pairs), len(probe._items)), dtype=bool)
            for position, user in enumerate(pair_users[pairs]):
                excluded[position, probe._seen_of(str(user))] = True
            trials = search_weights(stacks, excluded, targets[pairs], self.grid_step)
            best = trials[0]
            chosen[tier] = dict(zip(names, best.weights, strict=True))
            record["tiers"][tier] = {
                "validation_users": members,
                "validation_pairs": len(pairs),
                "best": best.to_json(names),
                "top": [trial.to_json(names) for trial in trials[:10]],
                "trials": len(trials),
            }
        record["chosen"] = chosen
        return record

    # --- scoring ----------------------------------------------------------------------------

    @property
    def item_vocab(self) -> Vocabulary:
        return self._items

    @property
    def catalog(self) -> ItemCatalog | None:
        return self._catalog

    def liked_count(self, user: str) -> int:
        """How many tracks the member gave positive feedback on."""
        row = self._users.index(str(user))
        return 0 if row < 0 else int(self._liked.indptr[row + 1] - self._liked.indptr[row])

    def tier_of(self, user: str) -> str:
        """The member's tier: cold, light, warm or rich (the module docstring says what each
        gets)."""
        count = self.liked_count(user)
        if count == 0:
            return "cold"
        if count < self.threshold:
            return "light"
        return "warm" if count < self.rich_from else "rich"

    def _seen_of(self, user: str) -> IntArray:
        return row_items(self._seen, self._users.index(user))

    def seen_items(self, user: str) -> IntArray:
        return self._seen_of(user)

    def blend_groups(self) -> list[str]:
        """What a tier's weights are over: each collaborative model this hybrid has, then
        "content" when it has audio features, "artists" when it has artist relations, then
        "pop"."""
        names = [kind for kind in self.collaborative_kinds if kind in self.components]
        names += [group for group in ("content", "artists") if group in self.components]
        return [*names, "pop"]

    def default_weights(self) -> dict[str, dict[str, float]]:
        """DEFAULT_SHARES over the groups this hybrid has (SHARES_WITHOUT_ARTISTS when
        it has no artists): the collaborative share split evenly between its models;
        without content, its share goes to the collaborative models, and to popularity
        when there are none."""
        groups = self.blend_groups()
        collaborative = [g for g in groups if g not in OWN_GROUPS]
        table = DEFAULT_SHARES if "artists" in groups else SHARES_WITHOUT_ARTISTS
        weights: dict[str, dict[str, float]] = {}
        for tier, shares in table.items():
            tier_weights = {"pop": shares["pop"]}
            spare = 0.0
            if "artists" in groups:
                tier_weights["artists"] = shares["artists"]
            if "content" in groups:
                tier_weights["content"] = shares["content"]
            else:
                spare = shares["content"]
            together = shares["collaborative"] + spare
            for kind in collaborative:
                tier_weights[kind] = together / len(collaborative)
            if not collaborative:
                tier_weights["pop"] += together
            weights[tier] = {g: round(tier_weights.get(g, 0.0), 6) for g in groups}
        return weights

    def _scores_of(
        self, name: str, users: Sequence[str], *, unscored: float | None = np.nan
    ) -> npt.NDArray[np.float32]:
        """A component's raw scores over the universe; `unscored` (NaN, or left as the
        component gave it when None) where it cannot score an item.

        In float32, the precision the models score in: a request touches every item of
        every component, so this is most of what serving one member costs."""
        model = self.components[name]
        raw = np.asarray(model.score_users(list(users)), dtype=np.float32)
        mapping = self._mapped(name)
        if mapping is None:
            out = raw if raw.flags.writeable and raw.base is None else raw.copy()
        else:
            known, source = mapping
            out = np.full((len(users), len(self._items)), np.nan, dtype=np.float32)
            out[:, known] = raw[:, source]
        if unscored is not None:
            out[~np.isfinite(out)] = unscored
        return out

    def _mapped(self, name: str) -> tuple[IntArray, IntArray] | None:
        """Where component `name`'s scores go in the universe: None when its items are the
        universe's own, in order; else the universe items it scores and its columns for
        them. Worked out once per state of its columns: every request needs it."""
        columns = self._columns[name]
        found = self._mapping.get(name)
        if found is None or found[0] is not columns:
            mapping = None
            if not _is_direct(columns, self.components[name]):
                known = np.flatnonzero(columns >= 0)
                mapping = (known, columns[known])
            found = self._mapping[name] = (columns, mapping)
        return found[1]

    def _rows(self, users: Sequence[str]) -> _Rows:
        z: dict[str, npt.NDArray[np.float32]] = {}
        raw: dict[str, npt.NDArray[np.floating]] = {}
        for name in self.components:
            if name == "pop":  # the same row for everyone, worked out in `_derive`
                shape = (len(users), len(self._items))
                z[name] = np.broadcast_to(self._pop_z, shape)
                raw[name] = np.broadcast_to(self._listeners, shape)
                continue
            # -inf or NaN alike mean "not scored" to standardise and to the reasons.
            raw[name] = self._scores_of(name, users, unscored=None)
            z[name] = standardise(raw[name], UNSCORED)
        return _Rows(list(users), z, raw)

    def _blend(self, rows: _Rows) -> npt.NDArray[np.float32]:
        out = np.empty((len(rows.users), len(self._items)), dtype=np.float32)
        for position, user in enumerate(rows.users):
            tier = self.tier_of(user)
            if tier == "cold":
                out[position] = self._cold_row
                continue
            total = out[position]
            total.fill(0.0)
            weights = self.weights[tier]
            # In the groups' own order, whatever order the weights came in (a loaded
            # tuning's JSON): float sums depend on it, and a reloaded model must agree.
            for group in self.blend_groups():
                weight = weights.get(group, 0.0)
                if weight and group in rows.z:
                    total += np.float32(weight) * rows.z[group][position]
        return out

    def score_users(self, users: Sequence[str]) -> npt.NDArray[np.float32]:
        users = [str(user) for user in users]
        if not users:
            return np.zeros((0, len(self._items)), dtype=np.float32)
        return self._blend(self._rows(users))

    # --- recommending -----------------------------------------------------------------------

    def recommend(
        self, user: str, k: int = 10, *, exclude: Collection[str] = ()
    ) -> list[Recommendation]:
        """The top k under the diversity rules (one version of a song, at most two tracks
        per artist in ten; for a cold member also at most two per genre in ten)."""
        k = check_k(k)
        user = str(user)
        rows = self._rows([user])
        scores = self._blend(rows)[0]
        scores[self._seen_of(user)] = -np.inf
        excluded = self._items.indices(exclude)
        scores[excluded[excluded >= 0]] = -np.inf
        chosen = self._diversified(scores, k, cold=self.tier_of(user) == "cold")
        reasons = self._reasons(rows, 0, chosen)
        return [
            Recommendation(self._items.id_of(i), float(scores[i]), reason)
            for i, reason in zip(chosen, reasons, strict=True)
        ]

    def _diversified(self, scores: FloatArray, k: int, *, cold: bool) -> list[int]:
        finite = int(np.isfinite(scores).sum())
        pool = min(finite, POOL_PER_RESULT * k)
        while True:
            ranked = top_k(scores, pool).tolist()
            catalog = self._catalog
            if catalog is not None:
                in_catalog = [i for i in ranked if i < len(catalog)]
                if cold:
                    in_catalog = _genre_variety(in_catalog, catalog, MAX_PER_GENRE_COLD)
                chosen = diversify(in_catalog, catalog, k)
            else:
                chosen = ranked[:k]
            if len(chosen) >= k or pool >= finite:
                return chosen
            pool = min(finite, pool * 4)

    def reason(self, user: str, item_index: int) -> str:
        return self._reason(self._rows([str(user)]), 0, int(item_index))

    def _reason(self, rows: _Rows, position: int, item: int) -> str:
        return self._reasons(rows, position, [item])[0]

    def _reasons(self, rows: _Rows, position: int, items: Sequence[int]) -> list[str]:
        """For each item, the reason of the component that added most to its score; each
        component explains its items together (ALS solves its system once for all)."""
        user = rows.users[position]
        tier = self.tier_of(user)
        if tier == "cold":
            return [self._cold_reason(item) for item in items]
        found: list[str] = [""] * len(items)
        by_group: dict[str, list[tuple[int, int]]] = {}
        for place, item in enumerate(items):
            best, best_gain = "pop", -np.inf
            for group, weight in self.weights[tier].items():
                if group not in rows.z or not weight or not rows.scored(group, position, item):
                    continue
                gain = weight * float(rows.z[group][position, item])
                if gain > best_gain:
                    best, best_gain = group, gain
            column = int(self._columns[best][item])
            if column < 0:
                found[place] = self._cold_reason(item, starter=False)
            else:
                by_group.setdefault(best, []).append((place, column))
        for group, wanted in by_group.items():
            columns = np.asarray([column for _, column in wanted], dtype=np.int64)
            texts = self.components[group].reasons(user, columns)
            for (place, _), text in zip(wanted, texts, strict=True):
                found[place] = text
        return found

    def _cold_reason(self, item: int, *, starter: bool = True) -> str:
        """Why a popular item: its listeners here, else its catalog popularity (phrased as
        a first pick only for a member with no history)."""
        if np.isfinite(self._listeners[item]) and self._listeners[item] > 0:
            return self.components["pop"].reason("", int(self._columns["pop"][item]))
        catalog = self._catalog
        genre = catalog.genres[item][0] if catalog is not None and catalog.genres[item] else None
        if starter:
            return f"a popular {genre} pick to start with" if genre else "popular to start with"
        return f"popular in {genre}" if genre else "popular in the catalog"

    # --- persistence ------------------------------------------------------------------------

    def state(self) -> tuple[dict[str, Any], Arrays]:
        params = {
            "seed": self.seed,
            "collaborative": list(self.collaborative_kinds),
            "content_mode": self.content_mode,
            "threshold": self.threshold,
            "rich_from": self.rich_from,
            "grid_step": self.grid_step,
            "weights": self.weights,
            "tuning": self.tuning,
            "components": sorted(self.components),
            "catalog_items": len(self._catalog) if self._catalog is not None else None,
        }
        arrays = {
            "items": self._items.ids,
            "users": self._users.ids,
            "liked_indptr": self._liked.indptr,
            "liked_indices": self._liked.indices,
            "liked_data": self._liked.data,
            "seen_indptr": self._seen.indptr,
            "seen_indices": self._seen.indices,
        }
        return params, arrays

    def save(self, directory: Path) -> Path:
        """The blend (manifest and arrays at the top) and each component in
        `components/<kind>/`, all written beside `directory` and renamed into place."""
        directory = Path(directory)
        directory.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
        try:
            for name, model in self.components.items():
                model.save(staging / "components" / name)
            params, arrays = self.state()
            own = write_artifact(staging / "blend", self.kind, params, arrays)
            for file in (MANIFEST, ARRAYS):
                os.replace(own / file, staging / file)
            own.rmdir()
            if directory.exists():
                shutil.rmtree(directory)
            os.replace(staging, directory)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return directory

    @classmethod
    def load(cls, directory: Path) -> Self:
        from recommender.artifacts import read_artifact

        directory = Path(directory)
        params, arrays = read_artifact(directory, cls.kind)
        components: dict[str, Recommender] = {}
        for name in params.get("components", []):
            try:
                components[name] = component_class(name).load(directory / "components" / name)
            except ValueError as exc:
                raise ArtifactError(f"{directory}: {exc}") from None
        return cls._restore(params, arrays, components)

    @classmethod
    def from_state(cls, params: dict[str, Any], arrays: Arrays) -> Self:
        raise ArtifactError("a hybrid is loaded with Hybrid.load(directory), with its components")

    @classmethod
    def _restore(
        cls, params: dict[str, Any], arrays: Arrays, components: dict[str, Recommender]
    ) -> Self:
        model = cls(
            seed=params["seed"],
            collaborative=params["collaborative"],
            content_mode=params["content_mode"],
            threshold=params["threshold"],
            # Saved before the rich tier: its members were warm and blend as warm ones.
            rich_from=params.get("rich_from", DEFAULT_RICH_FROM),
            grid_step=params["grid_step"],
        )
        model.weights = {tier: dict(w) for tier, w in with_rich_tier(params["weights"]).items()}
        model.tuning = params["tuning"]
        model.components = components
        content = components.get("content")
        catalog = getattr(content, "catalog", None)
        if params.get("catalog_items") is not None and catalog is None:
            raise ArtifactError("the hybrid's catalog comes with its content component, missing")
        model._catalog = catalog
        model._items = Vocabulary(arrays["items"])
        model._users = Vocabulary(arrays["users"])
        shape = (len(model._users), len(model._items))
        model._liked = sp.csr_matrix(
            (arrays["liked_data"], arrays["liked_indices"], arrays["liked_indptr"]), shape=shape
        )
        seen = arrays["seen_indices"]
        model._seen = sp.csr_matrix(
            (np.ones(len(seen), dtype=np.float32), seen, arrays["seen_indptr"]), shape=shape
        )
        model._derive()
        return model


def _is_direct(columns: IntArray, model: Recommender) -> bool:
    """Whether a component's items are the universe itself, in order (no mapping needed)."""
    if len(columns) != len(model.item_vocab):
        return False
    return bool(len(columns) == 0 or (columns[0] == 0 and (np.diff(columns) == 1).all()))


def _checked_weights(
    weights: Mapping[str, Mapping[str, float]], collaborative: Sequence[str]
) -> dict[str, dict[str, float]]:
    """Weights per tier over the collaborative kinds, "content", "artists" and "pop"; every
    tier given (the rich one may be left out: it then takes the warm one's)."""
    known = {*collaborative, *OWN_GROUPS}
    weights = with_rich_tier(weights)
    checked: dict[str, dict[str, float]] = {}
    for tier in TIERS:
        if tier not in weights:
            raise ValueError(f"weights for the {tier!r} tier are missing")
        given = {str(group): weight for group, weight in weights[tier].items()}
        unknown = set(given) - known
        if unknown:
            raise ValueError(
                f"unknown blend group(s) {sorted(unknown)} for tier {tier!r}; "
                f"choose from {', '.join(sorted(known))}"
            )
        values = {group: float(value) for group, value in given.items()}
        if any(not np.isfinite(v) or v < 0 for v in values.values()) or not sum(values.values()):
            raise ValueError(f"tier {tier!r} weights must be finite, >= 0 and not all zero")
        checked[tier] = values
    return checked


def with_rich_tier(
    weights: Mapping[str, Mapping[str, float]],
) -> Mapping[str, Mapping[str, float]]:
    """`weights` with a rich tier: the warm tier's when they have none (weights given or
    tuned before that tier existed; its members were warm then)."""
    if "rich" in weights or "warm" not in weights:
        return weights
    return {**weights, "rich": dict(weights["warm"])}


def _genre_variety(ranked: list[int], catalog: ItemCatalog, per_genre: int) -> list[int]:
    """`ranked` with at most `per_genre` tracks of one (first) genre in each block of ten,
    the rest after it in their order: newcomers see a spread of genres to react to."""
    counts: Counter[str] = Counter()
    first: list[int] = []
    later: list[int] = []
    for index in ranked:
        if len(first) % ARTIST_WINDOW == 0:
            counts.clear()
        genres = catalog.genres[index]
        genre = genres[0] if genres else ""
        if genre and counts[genre] >= per_genre:
            later.append(index)
            continue
        counts[genre] += 1
        first.append(index)
    return first + later
