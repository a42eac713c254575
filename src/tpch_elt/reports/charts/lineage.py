"""The lineage graph: sources → staging → intermediate → marts → exposures."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from markupsafe import Markup

from tpch_elt.reports.charts.svg import FAIL, TEXT, WARN, svg, tip

LAYERS = ("source", "staging", "intermediate", "mart", "exposure")
FILLS = {
    "source": "#e8f1f8",
    "staging": "#eef7f1",
    "intermediate": "#fdf5e6",
    "mart": "#f6eef7",
    "exposure": "#f3f4f6",
}
EDGE = "#9ca3af"
BOX_W, BOX_H, GAP_Y, COLUMN_W, TOP = 168, 20, 6, 206, 26

Node = Mapping[str, Any]


@dataclass(frozen=True)
class _Graph:
    nodes: dict[str, Node]  # by unique_id, in the order given
    parents: dict[str, list[str]]  # unique_id -> the nodes it depends on (known ones)
    layers: dict[str, list[str]]  # layer -> unique_ids, top to bottom


def lineage_svg(nodes: Sequence[Node], problems: Mapping[str, str], *, title: str) -> Markup:
    """Sources → staging → intermediate → marts → exposures, one column per layer.

    Within a layer nodes are ordered by the mean position of their parents
    (two sweeps), which keeps most edges short. Nodes with a failing test,
    an erroring run or a failing anomaly in the latest build are outlined
    in red (amber for warnings).
    """
    graph = _ordered(_graph(nodes))
    used = [layer for layer in LAYERS if graph.layers[layer]]
    tallest = max(len(graph.layers[layer]) for layer in used)
    height = TOP + tallest * (BOX_H + GAP_Y) + 10
    width = 12 + COLUMN_W * (len(used) - 1) + BOX_W + 12
    coords: dict[str, tuple[float, float]] = {}
    for column, layer in enumerate(used):
        offset = (tallest - len(graph.layers[layer])) * (BOX_H + GAP_Y) / 2
        for i, uid in enumerate(graph.layers[layer]):
            coords[uid] = (12 + column * COLUMN_W, TOP + offset + i * (BOX_H + GAP_Y))
    body = [
        f'<text x="{12 + column * COLUMN_W + BOX_W / 2}" y="14" text-anchor="middle" font-size="11" '
        f'font-weight="600" fill="{TEXT}">{escape(layer)} ({len(graph.layers[layer])})</text>'
        for column, layer in enumerate(used)
    ]
    body += _edges(graph, coords)
    body += [_box(graph.nodes[uid], uid, x0, y0, problems.get(uid)) for uid, (x0, y0) in coords.items()]
    return svg(width, height, title, body)


def _graph(nodes: Sequence[Node]) -> _Graph:
    by_id = {n["unique_id"]: n for n in nodes}
    layers: dict[str, list[str]] = {layer: [] for layer in LAYERS}
    for node in nodes:
        layer = node["layer"] if node["layer"] in layers else "mart"
        layers[layer].append(node["unique_id"])
    parents = {uid: [p for p in json.loads(by_id[uid]["depends_on"] or "[]") if p in by_id] for uid in by_id}
    return _Graph(by_id, parents, layers)


def _ordered(graph: _Graph) -> _Graph:
    """Each layer by name, then twice by the mean position of parents; sources beside their readers."""

    def name(uid: str) -> str:
        return str(graph.nodes[uid]["name"] or "")

    position: dict[str, float] = {}

    def place(layer: str) -> None:
        for i, uid in enumerate(graph.layers[layer]):
            position[uid] = i

    def mean_position(uids: list[str], default: str) -> float:
        return sum(position[u] for u in uids) / len(uids) if uids else position[default]

    for layer in LAYERS:
        graph.layers[layer].sort(key=name)
        place(layer)
    for _ in range(2):
        for layer in LAYERS[1:]:
            graph.layers[layer].sort(key=lambda uid: (mean_position(graph.parents[uid], uid), name(uid)))
            place(layer)
    # Sources last: beside the staging models that read them.
    children: dict[str, list[str]] = defaultdict(list)
    for uid, ps in graph.parents.items():
        for parent in ps:
            children[parent].append(uid)
    graph.layers["source"].sort(key=lambda uid: (mean_position(children[uid], uid), name(uid)))
    return graph


def _edges(graph: _Graph, coords: Mapping[str, tuple[float, float]]) -> list[str]:
    """A curve from the right side of each parent to the left side of its child."""
    edges = []
    for uid, ps in graph.parents.items():
        x2, y2 = coords[uid]
        for parent in ps:
            x1, y1 = coords[parent]
            sx, sy, ex, ey = x1 + BOX_W, y1 + BOX_H / 2, x2, y2 + BOX_H / 2
            mid = (sx + ex) / 2
            edges.append(
                f'<path d="M{sx:.0f},{sy:.0f} C{mid:.0f},{sy:.0f} {mid:.0f},{ey:.0f} {ex:.0f},{ey:.0f}" '
                f'fill="none" stroke="{EDGE}" stroke-width="0.8" opacity="0.7"/>'
            )
    return edges


def _box(node: Node, uid: str, x0: float, y0: float, problem: str | None) -> str:
    """A node: its name (shortened), its id, problem and description in a tooltip."""
    stroke = FAIL if problem == "fail" else WARN if problem == "warn" else EDGE
    name = node["name"] or uid
    shown = name if len(name) <= 26 else name[:25] + "…"
    hover = tip(
        f"{uid}"
        + (f" · {problem}" if problem else "")
        + (f"\n{node['description'][:200]}" if node.get("description") else "")
    )
    return (
        f'<g>{hover}<rect x="{x0}" y="{y0:.0f}" width="{BOX_W}" height="{BOX_H}" rx="4" '
        f'fill="{FILLS.get(node["layer"], "#fff")}" stroke="{stroke}" '
        f'stroke-width="{2 if problem else 1}"/>'
        f'<text x="{x0 + 6}" y="{y0 + 14:.0f}" font-size="11" fill="{TEXT}">{escape(shown)}</text></g>'
    )
