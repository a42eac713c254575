"""Which Snowflake warehouse size each model needs: the smallest that keeps its run under a target time.

The throughput model (a stated, adjustable assumption, not a measurement):

    seconds(model, size) = bytes scanned / (XSMALL_BYTES_PER_SECOND x 2 ** size index)

An XSMALL warehouse (1 node, 1 credit/hour) is assumed to scan
XSMALL_BYTES_PER_SECOND (default 200 MB/s, `tpch-elt cost --recommend
--xsmall-mb-per-second`) and every size up doubles nodes, credits per hour
and throughput (SMALL 2, MEDIUM 4 ... 6XLARGE 512). Doubling is the best
case: a model whose run is dominated by a single-threaded step, spilling or
a small table does not speed up, so the recommendation is a floor; measure
on Snowflake (QUERY_HISTORY, `snowflake_cost`) and adjust the assumption.

The bytes. On the embedded target, the largest `bytes_scanned` the DuckDB
profiler measured for the model in the recent builds (the heaviest run, e.g.
the daily full refresh, not the smallest increment): uncompressed bytes of
the columns its table scans read. Snowflake's BYTES_SCANNED counts
compressed micro-partition bytes, typically several times smaller, so the
DuckDB figure errs towards a larger warehouse. Asked for another scale
factor (`--target-sf`), the bytes scale linearly from the scale factor the
warehouse holds (raw.customer rows / 150,000, exact in TPC-H).

A model's estimated credits per run are its seconds on the recommended size
x that size's credits per hour / 3600 (the warehouse's idle time and its
60-second minimum per resume are not counted).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tpch_elt.observability.snowflake_cost import CREDITS_PER_HOUR, SIZES

XSMALL_BYTES_PER_SECOND = 200 * 1024 * 1024
DEFAULT_TARGET_SECONDS = 60.0


@dataclass(frozen=True)
class Recommendation:
    unique_id: str
    name: str
    bytes_scanned: int  # after scaling
    size: str
    seconds: float  # estimated, on `size`
    credits: float  # estimated per run, on `size`
    meets_target: bool  # False: even the largest size is slower than the target


def estimated_seconds(bytes_scanned: float, size: str, xsmall_bytes_per_second: float) -> float:
    """The throughput model: bytes / (XSMALL throughput x 2 ** size index)."""
    if xsmall_bytes_per_second <= 0:
        raise ValueError("the XSMALL throughput must be positive")
    return float(bytes_scanned / (xsmall_bytes_per_second * 2 ** SIZES.index(size)))


def smallest_size(
    bytes_scanned: float, target_seconds: float, xsmall_bytes_per_second: float = XSMALL_BYTES_PER_SECOND
) -> tuple[str, bool]:
    """The smallest size whose estimated run takes at most `target_seconds`, and whether one does
    (XSMALL, SMALL, ... in turn; the largest size, False, when none is fast enough)."""
    if target_seconds <= 0:
        raise ValueError("the target time must be positive")
    for size in SIZES:
        if estimated_seconds(bytes_scanned, size, xsmall_bytes_per_second) <= target_seconds:
            return size, True
    return SIZES[-1], False


def recommend(
    measured: Sequence[tuple[str, str, int]],
    *,
    target_seconds: float = DEFAULT_TARGET_SECONDS,
    scale: float = 1.0,
    xsmall_bytes_per_second: float = XSMALL_BYTES_PER_SECOND,
) -> list[Recommendation]:
    """One recommendation per (unique_id, name, bytes scanned), the largest first.

    `scale`: target scale factor / measured scale factor (1: as measured)."""
    out = []
    for unique_id, name, scanned in measured:
        scaled = round(max(scanned, 0) * scale)
        size, meets = smallest_size(scaled, target_seconds, xsmall_bytes_per_second)
        seconds = estimated_seconds(scaled, size, xsmall_bytes_per_second)
        out.append(
            Recommendation(
                unique_id, name, scaled, size, seconds, seconds * CREDITS_PER_HOUR[size] / 3600, meets
            )
        )
    return sorted(out, key=lambda r: (-r.bytes_scanned, r.name))


def dbt_project_block(
    recommendations: Sequence[Recommendation], fqns: Mapping[str, Sequence[str]], warehouse_name: str
) -> str:
    """A dbt_project.yml `models:` block: `+snowflake_warehouse` per model, at its folder path.

    `fqns`: each model's dbt fqn (project, folders..., name) from the manifest.
    `warehouse_name`: a pattern with `{size}` (e.g. TPCH_ELT_{size}): dbt's
    `snowflake_warehouse` takes a warehouse name, so one warehouse per size
    is assumed to exist. Models without an fqn are left out."""
    if "{size}" not in warehouse_name:
        raise ValueError("the warehouse name pattern must contain {size}")
    tree: dict[str, object] = {}
    for rec in recommendations:
        fqn = list(fqns.get(rec.unique_id) or [])
        if len(fqn) < 2:
            continue
        node = tree
        for part in fqn[:-1]:
            child = node.setdefault(part, {})
            assert isinstance(child, dict)
            node = child
        node[fqn[-1]] = {"+snowflake_warehouse": warehouse_name.format(size=rec.size)}
    lines = [
        "# Recommended by `tpch-elt cost --recommend` (src/tpch_elt/observability/sizing.py):",
        "# the smallest warehouse that keeps each model under the target time, from the bytes",
        "# it scanned. Merge into dbt_project.yml's `models:` (other adapters ignore the key).",
        "models:",
    ]
    lines += _yaml(tree, 1)
    return "\n".join(lines) + "\n"


def _yaml(tree: Mapping[str, object], depth: int) -> list[str]:
    lines = []
    for key in sorted(tree):
        value = tree[key]
        if isinstance(value, Mapping):
            lines.append(f"{'  ' * depth}{_key(key)}:")
            lines += _yaml(value, depth + 1)
        else:
            lines.append(f"{'  ' * depth}{_key(key)}: {_key(str(value))}")
    return lines


def _key(text: str) -> str:
    """A YAML scalar: plain when it is a simple word, else double-quoted JSON-style."""
    if text and all(ch.isalnum() or ch in "_+-." for ch in text) and not text[0].isdigit():
        return text
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + "".join(ch if ch.isprintable() else f"\\u{ord(ch):04x}" for ch in escaped) + '"'
