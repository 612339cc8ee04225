"""A Pareto run as one self-contained, interactive HTML page: ``report.html``.

One panel per pair of objectives, drawn as the PNG plots are (:mod:`hwnas.pareto.plots`): the
evaluated genotypes, the pair's own front as a step line, the members of the whole front and the
searched genotypes. Hovering a point shows its genotype, its objectives and the command that
trains it, and on the fronts the one that exports it too; below the panels, the front as a table
with its commands. plotly.js is
inlined, so the page opens without a network.
"""

from __future__ import annotations

import html
import itertools
import shlex
from pathlib import Path
from typing import Any, Dict, List, Optional

import pandas as pd

from hwnas.core import fileio
from hwnas.pareto.plots import axis_label, feasible, pair_front, read_run, readable, standing

# Network options that hwnas train takes from the data set, not from flags.
DATA_DECIDES = ("input_size", "in_channels", "num_classes")


def commands(genotype: str, name: str, flags: Optional[Dict[str, Any]], meta: Dict[str, Any]) -> Dict[str, str]:
    """The commands that train a genotype (its JSON text) as run ``name``, at the Pareto run's
    network options (less those the data set decides) on its search's data, and export the
    trained network (its options then come from the training run) measured on the run's device.
    None where the space could not be rebuilt to read its options (``flags`` None)."""
    if flags is None:
        return {}
    data = meta.get("data") or {}
    train = [f"--{k.replace('_', '-')} {shlex.quote(str(v))}" for k, v in flags.items() if k not in DATA_DECIDES]
    train += [f"--{k.replace('_', '-')} {shlex.quote(str(data[k]))}" for k in ("dataset", "data_dir") if data.get(k)]
    device = f" --device {shlex.quote(meta['measure_on'])}" if meta.get("measure_on") else ""
    quoted = shlex.quote(genotype)
    return {"train": " ".join([f"hwnas train {quoted}", *train, f"--name {name}"]),
            "export": f"hwnas export {quoted} --weights runs/{name}/best.pt --out {name}.onnx --measure{device}"}


def _network_flags(meta: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """The run's network options as flags; None where its space cannot be rebuilt here (a space
    file that moved or changed since)."""
    from hwnas.spaces.registry import space_from_config
    from hwnas.spaces.settings import flag_values

    try:
        return flag_values(space_from_config(meta["config"]).settings) if meta.get("config") else None
    except (ValueError, FileNotFoundError):
        return None


def write_report(run_dir: str | Path) -> Path:
    """Write ``run_dir/report.html`` for a Pareto run folder; returns its path."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    run_dir = Path(run_dir)
    meta, evaluated, front, _ = read_run(run_dir)
    names: List[str] = meta["objectives"]
    device = meta.get("device")
    estimate = meta.get("error_estimate") or ("nb201" if meta.get("benchmark") else None)
    flags, searched = _network_flags(meta), set(meta.get("searched", []))
    ids = {g: f"pareto-{i}" for i, g in enumerate(evaluated["genotype"])}  # each genotype's run name, everywhere

    def run(genotype: str) -> Dict[str, str]:
        return commands(genotype, ids.get(genotype, "pareto"), flags, meta)

    values, ok = readable(evaluated, estimate), feasible(evaluated)
    pairs = list(itertools.combinations(names, 2))
    marked = evaluated[evaluated["genotype"].isin(searched)]

    def title(a: str, b: str) -> str:  # and where the searched genotypes stand in this pair
        where = standing(ok, marked, a, b)
        return f"{a} vs {b}" + (f" (searched: {where})" if where else "")

    fig = make_subplots(rows=len(pairs), cols=1, vertical_spacing=0.25 / len(pairs),
                        subplot_titles=[title(a, b) for a, b in pairs])

    def hover(frame: pd.DataFrame, both: bool = True) -> List[str]:
        """Each point's genotype, objectives (as the axes show them) and the command that trains it;
        on the fronts and for the searched genotypes also the one that exports it (for every
        evaluated point it would add a megabyte to the page)."""
        shown = {n: values(frame, n) for n in names}
        out = []
        for index, row in frame.iterrows():
            text = html.escape(row["genotype"]) + "".join(
                f"<br>{axis_label(n, device, estimate)}: {shown[n][index]:.4g}" for n in names)
            lines = run(row["genotype"])
            text += "".join(f"<br>{html.escape(lines[k])}" for k in ("train", "export")[:2 if both else 1] if k in lines)
            out.append(text)
        return out

    for i, (a, b) in enumerate(pairs, start=1):
        pair = pair_front(ok, a, b)
        layers = [("evaluated", evaluated, dict(mode="markers", marker=dict(size=5, color="#bbbbbb"))),
                  (f"front of {a} and {b}", pair, dict(mode="lines+markers", line=dict(shape="hv", color="crimson"),
                                                       marker=dict(size=6, color="crimson"))),
                  (f"front of all {len(names)}", front if len(names) > 2 else front.iloc[:0], dict(
                      mode="markers", marker=dict(size=10, color="rgba(0,0,0,0)", line=dict(color="crimson", width=1.5)))),
                  ("searched", marked, dict(mode="markers", marker=dict(size=16, symbol="star", color="orange",
                                                                       line=dict(color="black", width=1))))]
        for legend, frame, style in layers:
            if len(frame):
                fig.add_trace(go.Scatter(x=values(frame, b), y=values(frame, a), name=legend, legendgroup=legend,
                                         showlegend=i == 1, hovertext=hover(frame, legend != "evaluated"),
                                         hoverinfo="text", **style),
                              row=i, col=1)
        fig.update_xaxes(title_text=axis_label(b, device, estimate), row=i, col=1)
        fig.update_yaxes(title_text=axis_label(a, device, estimate), row=i, col=1)
    fig.update_layout(height=430 * len(pairs), width=900, template="plotly_white", hovermode="closest",
                      title=f"hwnas pareto: {meta['space']}" + (f" on {device}" if device else ""))
    plot = fig.to_html(full_html=False, include_plotlyjs=True, div_id="pareto-plot")
    table = {n: values(front, n) for n in names}
    rows = "".join(
        f"<tr>{''.join(f'<td>{table[n][index]:.4g}</td>' for n in names)}<td><code>{html.escape(row['genotype'])}"
        f"</code></td><td><code>{html.escape(run(row['genotype']).get('train', ''))}</code></td></tr>"
        for index, row in front.iterrows())
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>hwnas pareto: {html.escape(meta['space'])}"
            f"</title><style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:2px 8px;text-align:left;"
            f"vertical-align:top}}code{{font-size:85%}}</style></head><body>"
            f"<h1>Pareto front: {html.escape(meta['space'])}</h1><p>{len(front)} genotypes on the front of "
            f"{', '.join(names)}, {len(evaluated)} evaluated. Hover a point for its genotype and the commands that "
            f"train and export it.</p>{plot}<h2>The front</h2><table><tr>"
            f"{''.join(f'<th>{html.escape(axis_label(n, device, estimate))}</th>' for n in names)}<th>genotype</th>"
            f"<th>train it</th></tr>{rows}</table></body></html>")
    path = run_dir / "report.html"
    fileio.write_text(path, page)
    return path
