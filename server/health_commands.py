"""`csdesk health model show`: the health model in force, as a table."""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table

from store.health.model import DIMENSIONS, HealthModel
from store.health.model_summary import model_summary


def print_model(model: HealthModel, console: Console) -> None:
    summary = model_summary(model)
    console.print(f"Health model {summary['id']} (from {summary['source']})", highlight=False)
    total = sum(view["weight"] for view in summary["signals"].values())
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("signal", "dimension", "weight", "share", "critical", "points"):
        table.add_column(column, no_wrap=column != "points")
    order = sorted(summary["signals"].items(), key=lambda item: (DIMENSIONS.index(item[1]["dimension"]), item[0]))
    for signal_id, view in order:
        points = (" ".join(f"{x:g}→{p:g}" for x, p in view["scale"]) if view["scale"]
                  else " ".join(f"{k}→{v:g}" for k, v in view["points"].items()))
        table.add_row(signal_id, view["dimension"], f"{view['weight']:g}", f"{view['weight'] / total:.0%}",
                      "yes" if view["critical"] else "", points)
    console.print(table)
    console.print(f"Missing data counts as {summary['missing_points']:g} points; confidence high from "
                  f"{summary['confidence']['high']:.0%} coverage, medium from {summary['confidence']['medium']:.0%} "
                  f"(medium may claim at most {summary['confidence']['medium_ceiling']}, low "
                  f"{summary['confidence']['low_ceiling']}).", highlight=False)
    for segment, override in summary["segments"].items():
        changes = [f"{key} = {value}" for key, value in override["thresholds"].items()]
        changes += [f"{signal_id} changed" for signal_id in override["signals"]]
        console.print(f"Segment {segment}: {'; '.join(changes)}", highlight=False)
