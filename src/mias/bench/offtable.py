"""Train an architecture the table does not hold, exactly as the table's rows were trained.

A strategy that leaves the table ends on a surrogate guess. Its honest result is the
trained figure: the task's data prepared as the build prepared it (checked against the
checksum the table records), the table's schedule, every one of its training seeds, the
seeds merged into one row as the build merges them. Cells are cached in the work folder, so
a second request trains nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mias.bench.api import MedNasBench, decode_json_columns
from mias.bench.builder import prepared_sha256
from mias.bench.cells import cached_row, cell_jobs
from mias.bench.fanout import run_cells
from mias.bench.genotype import lift
from mias.bench.prep import prepare_task
from mias.bench.seeds import merge_seeds
from mias.bench.tasks import get_task
from mias.errors import InputError
from mias.space import Architecture


def train_off_table(bench: MedNasBench, task: str, arch: Architecture, work: str | Path, *,
                    msd_root: str | Path | None = None, workers: int = 1,
                    backend: str = "pool") -> dict[str, Any]:
    """The trained row of `arch` on `task` (its table row when the table holds it)."""
    known = bench.metric(arch, task)
    if known is not None:
        return bench.query(arch, task, bench.devices()[0]) | {"trained_here": False}
    space = bench.space(task)
    space.check(arch)
    meta, info, bench_task = bench.meta, bench.meta["tasks"][task], get_task(task)
    config = meta["config"]
    work = Path(work)
    prep, _ = prepare_task(bench_task, work, msd_root=None if msd_root is None else
                           Path(msd_root), cases=int(config["cases"]), seed=int(config["seed"]))
    recorded = info.get("prepared_sha256")
    if recorded is None or prepared_sha256(prep) != recorded:
        raise InputError(prep, f"the data prepared for {task} is not the data the table was "
                         "trained on" + ("" if recorded else " (the table records no checksum)"),
                         "give the --work / --msd-root the table was built with, or rebuild "
                         "the table with this mias")
    jobs = cell_jobs(task=task, prep=prep, arch=arch, genotype_id=lift(space, arch).id,
                     settings=dict(meta["schedule"]), seeds=meta["seeds"]["training"],
                     lesion=bench_task.lesion, min_voxels=int(config["detection_min_voxels"]),
                     work=work)
    rows = {j.seed: r for j in jobs if (r := cached_row(j)) is not None}
    todo = [j for j in jobs if j.seed not in rows]
    run_cells(todo, backend=backend, workers=workers,
              done=lambda job, row: rows.__setitem__(job.seed, row))
    merged = decode_json_columns(merge_seeds(list(rows.values())))
    return merged | {"source": "trained", "trained_here": True}
