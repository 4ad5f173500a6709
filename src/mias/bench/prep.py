"""A benchmark task → its PREP folder: the user's Decathlon data or the synthetic stand-in."""

from __future__ import annotations

from pathlib import Path

from mias.bench.tasks import BenchTask, detection_table, find_msd_folder
from mias.errors import InputError

DATA_LABELS = {"msd": "the Decathlon", "standin": "synthetic stand-in"}


def data_label(origin: str) -> str:
    """What a task's figures were trained on, in the words a citation needs, from the
    origin `task_data` records (`msd:...` or `standin:...`)."""
    return DATA_LABELS.get(origin.partition(":")[0], f"unknown ({origin})")


def task_data(task: BenchTask, work: Path, *, msd_root: Path | None, cases: int,
              seed: int) -> tuple[Path, str]:
    """The raw dataset folder of `task` and where it came from (`msd:...` / `standin:...`)."""
    if msd_root is not None:
        folder = find_msd_folder(task, Path(msd_root))
        if folder is None:
            raise InputError(msd_root, f"no Decathlon folder for {task.name} "
                             f"({' or '.join(task.folder_names)})",
                             "download the task from medicaldecathlon.com, or leave out "
                             "--msd-root to use the synthetic stand-ins")
        return folder, f"msd:{folder.name}"
    from mias.data.synth import synthesize

    data = work / "data" / task.standin
    if not (data / "dataset.json").is_file():
        synthesize(task.standin, data, cases=cases, seed=seed)
    _check_standin(data, cases, seed)
    return data, f"standin:{task.standin} ({cases} cases, seed {seed})"


def _check_standin(data: Path, cases: int, seed: int) -> None:
    """A work folder's stand-in is reused only when it is the one asked for: another case
    count or seed would be trained on silently."""
    from mias.atomic import read_json

    info = read_json(data / "dataset.json")
    made = (int(info.get("numTraining", -1)), str(info.get("release", "")))
    if made[0] != cases or not made[1].endswith(f"seed {seed}"):
        raise InputError(data, f"this work folder's stand-in was made with {made[0]} cases "
                         f"({made[1] or 'unknown seed'}), not {cases} cases and seed {seed}",
                         "use another --work folder for another --cases or --seed")


def prepare_task(task: BenchTask, work: Path, *, msd_root: Path | None = None, cases: int = 20,
                 seed: int = 0) -> tuple[Path, str]:
    """Prepare `task` once under `work/prep/NAME` (reused when already complete)."""
    from mias.data.prepare import PrepareConfig, prepare

    data, origin = task_data(task, work, msd_root=msd_root, cases=cases, seed=seed)
    prep = work / "prep" / task.name
    if (prep / "manifest.json").is_file():
        return prep, origin
    labels = None
    if task.detection:
        labels = detection_table(data, work / "labels" / f"{task.name}.csv")
    shape = None if msd_root is not None else task.standin_shape
    config = PrepareConfig(task=task.kind if task.detection else None, labels_csv=labels,
                           input_shape=shape, seed=seed, workers=1)
    prepare(data, prep, config)
    return prep, origin
