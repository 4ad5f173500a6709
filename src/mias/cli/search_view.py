"""Rich live view of a search: step, loss, TSL, T in ms, candidates left, ETA."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from mias.cli.progress import console


class SearchView:
    def __init__(self) -> None:
        self.bar = Progress(TextColumn("[bold]search"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[info]}"), TimeElapsedColumn(),
                            TextColumn("ETA"), TimeRemainingColumn(), console=console)
        self.task = None

    def __enter__(self) -> SearchView:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.__exit__(*exc)

    def start(self, info: dict[str, Any]) -> None:
        lat = info["latency"]
        console.print(f"latency of {lat['device']}: {lat['source']}; reference path "
                      f"{info['reference_ms']:.1f} ms; metric {info['metric']}; training patch "
                      f"{'×'.join(map(str, info['patch']))} on {info['device']}"
                      + ("; [bold]resuming[/] from the last checkpoint" if info["resumed"]
                         else ""))
        self.task = self.bar.add_task("search", total=info["total_steps"], info="")

    def step(self, step: int, row: dict[str, Any]) -> None:
        if "racing" in row:
            self.bar.update(self.task, info=f"depth race: training {len(row['racing'])} "
                            f"networks alone, {row['race_steps']} steps each")
            return
        info = (f"L {row['loss']:.3f} TSL {row['tsl']:.3f} T {row['t_ms']:.0f} ms "
                f"left {row['candidates_left']}")
        self.bar.update(self.task, completed=step, info=info)

    def summary(self, out: Path) -> None:
        from mias.atomic import read_json

        r = read_json(out / "result.json")
        lat = r["latency"]
        console.print(f"chosen architecture [bold]{r['arch_id']}[/] (depth {r['arch']['depth']}): "
                      f"{r['metric']['label']} {r['metric']['value']:.3f} on validation with the "
                      f"supernet's weights, "
                      f"{lat['value']:.1f} ms — {lat['label']}")
        race = r.get("race")
        if race:
            ran = ", ".join(f"depth {e['depth']}"
                            + (" grown into the budget" if e.get("path") == "budget-filled"
                               else "") + f" {e['metric']:.3f} at {e['latency_ms']:.1f} ms"
                            + (" (chosen)" if e["chosen"] else "") for e in race["entries"])
            console.print(f"depth race ({race['steps']} steps alone each, validation): {ran}")
        for warning in r.get("warnings", []):
            console.print(f"[yellow]warning[/]: {warning}")
        console.print(f"Pareto front: {len(r['pareto'])} architectures; "
                      f"{len([p for p in r['pruning_log'] if p['action'] == 'pruned'])} "
                      f"candidates pruned; results in {out}")
