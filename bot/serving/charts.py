"""Charts the bot attaches as images. Blocking (matplotlib): call them in a worker thread.

No pyplot: its global figure registry is not thread-safe and leaks figures. Each chart is
its own `Figure` drawn on its own Agg canvas, so concurrent renders never share state.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

MEMBER_COLOR = "#1DB954"  # Spotify green
SERVER_COLOR = "#5865F2"  # Discord blurple
SIZE_INCHES = 5.0
DPI = 120


def radar_chart(
    features: Sequence[str],
    member: Mapping[str, float],
    *,
    member_label: str,
    server: Mapping[str, float] | None = None,
    server_label: str = "Server average",
) -> bytes:
    """A PNG radar chart of `member`'s 0-1 feature values, over `server`'s when given."""
    if len(features) < 3:
        raise ValueError(f"a radar chart needs at least 3 features, got {len(features)}")
    angles = [2 * math.pi * index / len(features) for index in range(len(features))]
    closed = [*angles, angles[0]]  # the outline returns to its first point

    figure = Figure(figsize=(SIZE_INCHES, SIZE_INCHES), dpi=DPI, facecolor="white")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(projection="polar")
    axes.set_theta_offset(math.pi / 2)  # first feature at the top, going clockwise
    axes.set_theta_direction(-1)
    axes.set_ylim(0.0, 1.0)
    axes.set_yticks([0.25, 0.5, 0.75, 1.0], labels=["", "0.5", "", "1"], fontsize=7)
    axes.set_xticks(angles, labels=[name.capitalize() for name in features], fontsize=9)

    series = [(server, server_label, SERVER_COLOR, "--")] if server else []
    series.append((member, member_label, MEMBER_COLOR, "-"))
    for values, label, color, style in series:
        points = [_clamp(values.get(name, 0.0)) for name in features]
        points.append(points[0])
        axes.plot(closed, points, color=color, linewidth=2, linestyle=style, label=_literal(label))
        axes.fill(closed, points, color=color, alpha=0.2)
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.06), ncols=2, frameon=False)
    figure.tight_layout()

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _literal(text: str) -> str:
    # A member's name is text, never mathtext: an unpaired or odd "$" would fail to render.
    return text.replace("$", r"\$")


def _clamp(value: float) -> float:
    return min(1.0, max(0.0, float(value)))
