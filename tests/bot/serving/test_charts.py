"""The radar chart /profile attaches: a real PNG of the right size, from real numbers."""

from __future__ import annotations

import asyncio
import struct

import pytest

from bot.serving.charts import DPI, SIZE_INCHES, radar_chart
from storage.repositories.profiles import PROFILE_FEATURES

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MEMBER = {
    "danceability": 0.71,
    "energy": 0.83,
    "valence": 0.52,
    "acousticness": 0.08,
    "speechiness": 0.06,
    "instrumentalness": 0.0,
    "liveness": 0.19,
}
SERVER = {name: 0.4 for name in PROFILE_FEATURES}


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, which a valid PNG has first."""
    assert data[:8] == PNG_SIGNATURE
    length, kind = struct.unpack(">I4s", data[8:16])
    assert (length, kind) == (13, b"IHDR")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_radar_chart_is_a_png_of_the_expected_size() -> None:
    png = radar_chart(PROFILE_FEATURES, MEMBER, member_label="alice", server=SERVER)

    side = round(SIZE_INCHES * DPI)
    assert png_size(png) == (side, side)
    assert png.endswith(b"IEND\xaeB`\x82")  # the closing chunk: nothing cut off
    assert len(png) > 10_000  # drawn, not blank


def test_server_outline_changes_the_picture() -> None:
    alone = radar_chart(PROFILE_FEATURES, MEMBER, member_label="alice")
    against = radar_chart(PROFILE_FEATURES, MEMBER, member_label="alice", server=SERVER)
    assert png_size(alone) == png_size(against)
    assert alone != against


def test_out_of_range_and_missing_values_still_render() -> None:
    png = radar_chart(PROFILE_FEATURES, {"energy": 1.7, "valence": -0.2}, member_label="x")
    assert png[:8] == PNG_SIGNATURE


def test_member_names_are_text_not_mathtext() -> None:
    png = radar_chart(PROFILE_FEATURES, MEMBER, member_label=r"$\frac{ cash$ $$", server=SERVER)
    assert png[:8] == PNG_SIGNATURE


def test_too_few_features_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 3"):
        radar_chart(["energy", "valence"], MEMBER, member_label="alice")


async def test_concurrent_renders_in_threads_do_not_interfere() -> None:
    # The bot renders in worker threads; two at once must each give a whole PNG.
    first, second = await asyncio.gather(
        asyncio.to_thread(radar_chart, PROFILE_FEATURES, MEMBER, member_label="a"),
        asyncio.to_thread(radar_chart, PROFILE_FEATURES, SERVER, member_label="b"),
    )
    assert png_size(first) == png_size(second)
    assert first != second
