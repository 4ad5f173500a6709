"""Run cells in parallel: Ray (local or a cluster) or, without the extra, a process pool.

Both backends call the same `compute_cell` on the same plain-data jobs and each cell is
deterministic (seeded, one torch thread per worker), so they produce the same table. Cells
are written by the workers as they finish, which is what makes a build resumable. Any other
module-level job function can be fanned out the same way (`fn`; `mias rank` does).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from typing import Any

from mias.bench.cells import CellJob, compute_cell
from mias.errors import InputError

Done = Callable[[CellJob, dict[str, Any]], None]
Fn = Callable[[Any], Any]
BACKENDS = ("auto", "ray", "pool")


def ray_available() -> bool:
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_backend(backend: str, ray_address: str | None) -> str:
    if backend not in BACKENDS:
        raise InputError(None, f"unknown backend {backend!r}", f"use one of {BACKENDS}")
    if backend == "auto":
        return "ray" if ray_available() else "pool"
    if backend == "ray" and not ray_available():
        raise InputError(None, "Ray is not installed" + (f" (--ray {ray_address})"
                                                         if ray_address else ""),
                         "pip install 'mias[ray]', or use --backend pool")
    return backend


def run_pool(jobs: Sequence[CellJob], workers: int, done: Done, fn: Fn | None = None) -> None:
    fn = fn or compute_cell
    if workers <= 1:
        for job in jobs:
            done(job, fn(job))
        return
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("fork")) as pool:
        futures = {pool.submit(fn, job): job for job in jobs}
        for future in as_completed(futures):
            done(futures[future], future.result())


def run_ray(jobs: Sequence[CellJob], workers: int, address: str | None, done: Done,
            fn: Fn | None = None) -> None:
    """A local Ray with `workers` CPUs, or the cluster at `address`; one CPU per cell."""
    import ray

    started = not ray.is_initialized()
    if started:
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                  "configure_logging": False}
        if address:
            ray.init(address=address, **kwargs)
        else:
            ray.init(address="local", num_cpus=max(1, workers), **kwargs)
    try:
        remote = ray.remote(num_cpus=1, max_retries=0)(fn or compute_cell)
        pending = {remote.remote(job): job for job in jobs}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                done(pending.pop(ref), ray.get(ref))
    finally:
        if started:
            ray.shutdown()


def run_cells(jobs: Sequence[CellJob], *, backend: str = "auto", workers: int = 2,
              ray_address: str | None = None, done: Done, fn: Fn | None = None) -> str:
    """Compute `jobs` with `fn` (default `compute_cell`), calling `done(job, result)` as each
    finishes, in the order given; returns the backend used."""
    chosen = resolve_backend(backend, ray_address)
    if not jobs:
        return chosen
    if chosen == "ray":
        run_ray(jobs, workers, ray_address, done, fn)
    else:
        run_pool(jobs, workers, done, fn)
    return chosen
