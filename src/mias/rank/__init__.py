"""Search evaluation (`mias rank`): does the supernet rank architectures as training does?

`draw` picks N architectures stratified over predicted latency, `jobs` trains them
standalone (the ground truth, cached by arch id) and trains one supernet per sampler
(MIAS, MIAS with ε_lat = 0, FairNAS, SPOS) on equal path updates, scoring all N with
inherited weights after every epoch, MED-NAS-Bench's `mias.bench.fanout` runs those jobs
on Ray or a process pool, `stats` turns scores into Kendall τ / Spearman ρ with bootstrap
CIs and top-k overlap, and `api` writes `DIR/tau.json` and `DIR/tau.png`.
"""
