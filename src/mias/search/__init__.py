"""The search: latency-aware supernet training with progressive pruning (paper component 2).

`state` (indices, mask, distribution), `samplers`, `latency` (T and its relaxation),
`evaluator` (the interface shared with MED-NAS-Bench), `supernet_evaluator`, `hpo`,
`pruning`, `pareto`, `controller` (the loop) and `api` (files in, files out).
"""
