"""Training and evaluation of standalone networks: data, task losses, metrics, baselines."""
