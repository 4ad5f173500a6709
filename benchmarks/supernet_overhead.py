"""Training-step time of a supernet path vs the same architecture materialised, same run.

For each random architecture of a hippocampus-like space, one SGD training step (forward,
cross-entropy, backward, step) is timed on the same batch through `supernet(x, arch)` (the
optimiser holding all supernet weights, as in the search) and through the standalone
network `materialize(supernet, arch)`; the two alternate after a warm-up so machine noise
hits both alike. The ratio of medians per architecture, and its median over architectures,
is the overhead of running the search on the shared weights (target ≤ 1.3).

    .venv/bin/python benchmarks/supernet_overhead.py [--archs 8] [--repeats 7] [--threads 1]
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mias.atomic import write_json
from mias.records import TaskSpec
from mias.space import network_flops, network_params, select_search_space
from mias.space.supernet import Supernet

RESULTS = Path(__file__).parent / "results" / "supernet_overhead.json"
TARGET_RATIO = 1.3


def train_step(model: Callable[[torch.Tensor], torch.Tensor], optimizer: torch.optim.Optimizer,
               x: torch.Tensor, y: torch.Tensor) -> float:
    """Seconds for one SGD step."""
    start = time.perf_counter()
    optimizer.zero_grad(set_to_none=True)
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--shape", type=int, nargs=3, default=(40, 56, 40))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    task = TaskSpec("segmentation", 3, 1, tuple(args.shape), 3,
                    ("background", "anterior", "posterior"), "MR", (1.0, 1.0, 1.0))
    space = select_search_space(task)
    supernet = Supernet(space, seed=args.seed).train()
    super_opt = torch.optim.SGD(supernet.parameters(), lr=0.01, momentum=0.9)
    rng = np.random.default_rng(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    x = torch.randn(args.batch, 1, *args.shape, generator=gen)
    y = torch.randint(0, 3, (args.batch, *args.shape), generator=gen)
    rows = []
    for _ in range(args.archs):
        arch = space.sample(rng)
        net = supernet.materialize(arch)
        net_opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
        path = functools.partial(supernet, arch=arch)
        sup_t, net_t = [], []
        for i in range(args.warmup + args.repeats):
            s = train_step(path, super_opt, x, y)
            n = train_step(net, net_opt, x, y)
            if i >= args.warmup:
                sup_t.append(s)
                net_t.append(n)
        sup_ms, net_ms = statistics.median(sup_t) * 1e3, statistics.median(net_t) * 1e3
        rows.append({"arch_id": arch.id, "depth": arch.depth,
                     "params": network_params(space, arch),
                     "flops": network_flops(space, arch),
                     "supernet_ms": round(sup_ms, 3), "materialized_ms": round(net_ms, 3),
                     "ratio": round(sup_ms / net_ms, 4)})
        print(f"{arch.id} depth {arch.depth}: supernet {sup_ms:.1f} ms, "
              f"materialised {net_ms:.1f} ms, ratio {sup_ms / net_ms:.3f}")
    median = statistics.median(r["ratio"] for r in rows)
    result = {
        "schema_version": 1,
        "benchmark": "supernet_overhead",
        "what": "training step (forward + cross-entropy + backward + SGD step) of a supernet "
                "path vs the materialised network, same batch, alternating, same run",
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "python": platform.python_version(), "cpu_count": os.cpu_count(),
                    "torch": torch.__version__, "torch_threads": torch.get_num_threads()},
        "settings": {"input_shape": list(args.shape), "batch": args.batch,
                     "archs": args.archs, "repeats": args.repeats, "warmup": args.warmup,
                     "seed": args.seed, "space_size": space.size(),
                     "supernet_params": sum(p.numel() for p in supernet.parameters())},
        "per_arch": rows,
        "median_ratio": round(median, 4),
        "target_ratio": TARGET_RATIO,
        "within_target": median <= TARGET_RATIO,
    }
    write_json(RESULTS, result)
    print(f"median ratio {median:.3f} (target ≤ {TARGET_RATIO}) → {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
