"""The built-in datasets (real files; skipped when absent) and the CSV readers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recommender.data import Interactions
from recommender.evaluation.datasets import (
    AUDIO_FEATURES,
    DatasetError,
    EvaluationDataset,
    load_dataset,
    read_interactions_csv,
    read_pairs_csv,
)
from recommender.evaluation.splits import leave_one_out
from tests.conftest import LASTFM, SHARED_DATA, SPOTIFY_CATALOG, require_shared

# --- real data ----------------------------------------------------------------------------


def test_lastfm_matches_the_published_counts() -> None:
    require_shared(LASTFM)
    dataset = load_dataset("lastfm-hetrec2k", SHARED_DATA)
    data = dataset.interactions
    assert len(data) == 92_834
    assert len(data.user_vocab) == 1_892
    assert len(data.item_vocab) == 17_632
    assert data.weights.min() == 1
    assert data.weights.max() == 352_698
    assert dataset.catalog is None
    # Ids stay text, exactly as in the file (user 2 listened to artist 51 13,883 times).
    first = data.subset((data.users == "2") & (data.items == "51"))
    assert first.weights.tolist() == [13_883.0]


def test_the_dataset_folder_itself_is_accepted() -> None:
    folder = require_shared(LASTFM)
    assert len(load_dataset("lastfm-hetrec2k", folder).interactions) == 92_834


@pytest.fixture(scope="module")
def spotify() -> EvaluationDataset:
    require_shared(SPOTIFY_CATALOG)
    return load_dataset("spotify-playlists", SHARED_DATA)


def test_spotify_playlists(spotify: EvaluationDataset) -> None:
    data = spotify.interactions
    catalog = spotify.catalog
    assert catalog is not None
    # 32,833 rows; 582 repeat a (playlist, track) pair under another genre label.
    assert len(data) == 32_833 - 582
    assert len(data.user_vocab) == 471
    assert len(catalog) == 28_356
    assert set(data.items.tolist()) == set(catalog.ids.tolist())
    assert catalog.feature_names == AUDIO_FEATURES
    assert catalog.features.shape == (28_356, 11)
    assert not np.isnan(catalog.features).any()
    assert all(catalog.genres)  # every track is in some playlist, so has genres


def test_spotify_genres_are_the_union_of_the_playlists(spotify: EvaluationDataset) -> None:
    catalog = spotify.catalog
    assert catalog is not None
    genre_sets = [set(genres) for genres in catalog.genres]
    main_genres = {"edm", "rap", "pop", "r&b", "latin", "rock"}
    assert set().union(*genre_sets) >= main_genres
    assert len(set().union(*genre_sets)) == 6 + 24
    # Tracks in playlists of several genres carry all of them.
    assert max(len(genres & main_genres) for genres in genre_sets) >= 2
    known = catalog.vocab.index("0r7CVbZTWZgbTCYdfa2P31")  # Memories, Maroon 5 (pop)
    assert "pop" in catalog.genres[known]


def test_models_see_genres_from_training_playlists_only(spotify: EvaluationDataset) -> None:
    split = leave_one_out(spotify.interactions, seed=0)
    seen = spotify.catalog_for(split.train)
    full = spotify.catalog
    assert seen is not None
    assert full is not None
    train_items = set(split.train.items.tolist())
    only_in_test = [item for item in split.test.items.tolist() if item not in train_items]
    assert only_in_test  # most held-out tracks are in no other playlist
    for item in only_in_test:
        assert full.genres[full.vocab.index(item)]
        assert seen.genres[seen.vocab.index(item)] == ()  # its genre came from the test playlist
    assert seen.features is full.features


# --- CSV ----------------------------------------------------------------------------------


def write(tmp_path: Path, text: str, name: str = "rows.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_csv_with_every_column(tmp_path: Path) -> None:
    path = write(tmp_path, "user,item,weight,timestamp\n007,a,2.5,100\n8, b ,1,200\n")
    data = read_interactions_csv(path)
    assert data.users.tolist() == ["007", "8"]  # text ids: leading zeros kept
    assert data.items.tolist() == ["a", "b"]
    assert data.weights.tolist() == [2.5, 1.0]
    assert data.timestamps.tolist() == [100, 200]


def test_csv_columns_in_any_order_and_optional(tmp_path: Path) -> None:
    data = read_interactions_csv(write(tmp_path, "Item,note,USER\nx,hello,u\n"))
    assert isinstance(data, Interactions)
    assert (data.users.tolist(), data.items.tolist()) == (["u"], ["x"])
    assert data.weights.tolist() == [1.0]
    assert data.timestamps.tolist() == [0]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("user,weight\nu,1\n", "missing column(s) item"),
        ("name,song\nu,x\n", "missing column(s) user, item"),
        ("user,item,weight\nu,x,1\nv,y,lots\n", "line 3: weight 'lots' is not a finite number"),
        ("user,item,weight\nu,x,nan\n", "line 2: weight 'nan' is not a finite number"),
        ("user,item,weight\nu,x,inf\n", "line 2: weight 'inf' is not a finite number"),
        ("user,item,weight\nu,x,-Infinity\n", "is not a finite number"),
        ("user,item,weight\nu,x,\n", "line 2: weight '' is not a finite number"),
        ("user,item,timestamp\nu,x,12.5\n", "whole Unix seconds"),
        ("user,item,timestamp\nu,x,yesterday\n", "timestamp 'yesterday'"),
        ("user,item\n", "no rows after the header"),
        ("user,item\nu,\n", "line 2: empty item"),
        ("", "the file is empty"),
    ],
)
def test_bad_csv_names_the_problem(tmp_path: Path, text: str, fragment: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(DatasetError) as caught:
        read_interactions_csv(path)
    assert fragment in str(caught.value)
    assert str(path) in str(caught.value)


def test_missing_and_binary_files(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no such file"):
        read_interactions_csv(tmp_path / "absent.csv")
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe\x00\x81" * 100)
    with pytest.raises(DatasetError, match=r"binary\.csv"):
        read_interactions_csv(binary)


def test_pairs_csv(tmp_path: Path) -> None:
    pairs = read_pairs_csv(write(tmp_path, "user,item,weight\nu,x,whatever\n"))
    assert (pairs.users.tolist(), pairs.items.tolist()) == (["u"], ["x"])


def test_unknown_dataset_and_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="unknown dataset 'movielens'"):
        load_dataset("movielens", tmp_path)
    with pytest.raises(DatasetError, match=r"user_artists\.dat not found"):
        load_dataset("lastfm-hetrec2k", tmp_path)
