"""The latency term T of the MIAS loss, exactly and relaxed.

T = Σ_l max_{b ∈ S_l} lat(b): S_l is the set of blocks the K paths of a step run in
layer l, each looked up *as it occurs in its path* (its input width, its skip), stem and
head included. That is what `exact_t` logs, in ms.

T is not differentiable in the architecture logits, so the gradient uses its expectation
under the sampling distribution (`expected_t`). Per layer, a draw either does not reach
the layer (its depth is too shallow: latency 0) or runs candidate b with probability
P(depth reaches l) · p_l(b). For K independent draws, with the values sorted
v_1 ≤ … ≤ v_n and CDF F, E[max] = Σ_j v_j (F_j^K − F_{j−1}^K) — closed form, and
differentiable in the probabilities. A candidate's latency inside the relaxation is its
block latency averaged over the input widths its predecessor layer currently feeds it
(that average is held constant in the gradient: the predecessor's own term carries it).

T rewards diversity for its own sake: K draws from a spread distribution run slower blocks
than one path does, and once the distribution has collapsed onto one candidate, moving
mass to a faster one barely lowers the maximum of K draws, so the gradient vanishes
whatever the candidate's latency. `expected_path` is the alternative objective: the
expected latency of one path (the network that is deployed), Σ over layers of P(reach) ·
Σ_i p(i) · lat(i | its input width), bilinear in a layer's probabilities and its
predecessor's, so a wider candidate is also charged for what it costs the layers after it.

`reference_ms` — the expected latency of one uniformly drawn path of the full space — is
the unit of the loss's latency term (ε_lat · T / reference), so ε_lat means the same on a
Raspberry Pi as on a workstation.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from mias.hardware.predictors import LatencyPredictor
from mias.search.state import CandidateMask, Distribution, all_layers, layer_depth
from mias.space import Architecture, SearchSpace


def path_layers(space: SearchSpace, arch: Architecture) -> list[str]:
    """Layer names of `block_configs(arch)`, in the same order (stem … head)."""
    return ["stem", *space.layer_names(arch.depth), "head"]


class LatencyModel:
    """Block latencies of a space on one device, cached per block key."""

    def __init__(self, space: SearchSpace, predictor: LatencyPredictor) -> None:
        self.space = space
        self.predictor = predictor
        self._cache: dict[str, float] = {}
        self._tensors: dict[str, torch.Tensor] = {}
        self.layers = all_layers(space)
        self.reference_ms = self._uniform_path_ms()

    def block_ms(self, config) -> float:
        key = config.key
        if key not in self._cache:
            self._cache[key] = float(self.predictor.block_ms(config))
        return self._cache[key]

    def path_blocks_ms(self, arch: Architecture) -> dict[str, float]:
        """Layer → latency of its block as it occurs in `arch`."""
        configs = self.space.block_configs(arch)
        return {n: self.block_ms(c)
                for n, c in zip(path_layers(self.space, arch), configs, strict=True)}

    def exact_t(self, archs: Sequence[Architecture]) -> float:
        """T = Σ_l max over the step's paths of the latency of their block in layer l."""
        worst: dict[str, float] = {}
        for arch in archs:
            for n, ms in self.path_blocks_ms(arch).items():
                worst[n] = max(worst.get(n, 0.0), ms)
        return sum(worst.values())

    def path_ms(self, arch: Architecture) -> float:
        """Σ of `arch`'s block latencies (what T is for a single path)."""
        return sum(self.path_blocks_ms(arch).values())

    # ---- the relaxation -----------------------------------------------------------------

    def candidate_ms(self, layer: str, depth_p: np.ndarray,
                     layer_p: dict[str, np.ndarray]) -> np.ndarray:
        """Per candidate of `layer`, its latency averaged over the input widths the current
        distribution feeds it (constants: no gradient flows through the widths)."""
        sp = self.space
        k = int(layer[3:])
        cands = sp.candidates(layer)
        out = np.zeros(len(cands))
        if layer.startswith("enc"):
            feeds = ([(sp.stem_width, 1.0)] if k == 0 else
                     _width_marginal(sp.candidates(f"enc{k - 1}"), layer_p[f"enc{k - 1}"]))
            for i, c in enumerate(cands):
                out[i] = sum(w * self.block_ms(sp.enc_config(k, c, width)) for width, w in feeds)
            return out
        skips = _width_marginal(sp.candidates(f"enc{k}"), layer_p[f"enc{k}"])
        mains = self._main_feeds(k, depth_p, layer_p)
        for i, c in enumerate(cands):
            out[i] = sum(wm * ws * self.block_ms(sp.dec_config(k, c, m, s))
                         for m, wm in mains for s, ws in skips)
        return out

    def _main_feeds(self, k: int, depth_p: np.ndarray,
                    layer_p: dict[str, np.ndarray]) -> list[tuple[int, float]]:
        """Width distribution of dec{k}'s main input: the bottleneck enc{k+1} when the depth
        is k+1, dec{k+1} when deeper (conditioned on reaching dec{k})."""
        sp = self.space
        reach = sum(p for d, p in zip(sp.depths, depth_p, strict=True) if d >= k + 1)
        at = sum(p for d, p in zip(sp.depths, depth_p, strict=True) if d == k + 1)
        feeds: dict[int, float] = {}
        parts = []
        if at > 0:
            parts.append((sp.candidates(f"enc{k + 1}"), layer_p[f"enc{k + 1}"], at / reach))
        if reach - at > 1e-12:
            parts.append((sp.candidates(f"dec{k + 1}"), layer_p[f"dec{k + 1}"],
                          (reach - at) / reach))
        for cands, p, share in parts:
            for width, w in _width_marginal(cands, p):
                feeds[width] = feeds.get(width, 0.0) + share * w
        return list(feeds.items())

    def fixed_ms(self, depth_p: np.ndarray, layer_p: dict[str, np.ndarray]) -> float:
        """Expected stem + head latency (no architecture logit changes the stem; the head's
        small width dependence is left out of the gradient)."""
        sp = self.space
        stem = self.block_ms(sp.stem_config())
        if sp.has_decoder:
            feeds = _width_marginal(sp.candidates("dec0"), layer_p["dec0"])
            head = sum(w * self.block_ms(sp.head_config(width, 0)) for width, w in feeds)
        else:
            head = 0.0
            for d, pd in zip(sp.depths, depth_p, strict=True):
                for width, w in _width_marginal(sp.candidates(f"enc{d}"), layer_p[f"enc{d}"]):
                    head += pd * w * self.block_ms(sp.head_config(width, d))
        return stem + head

    def expected_t(self, dist: Distribution, mask: CandidateMask, k: int) -> torch.Tensor:
        """E[T] over K independent draws from `dist` (ms), differentiable in its logits."""
        depth_p_t = dist.depth_probs(mask)
        depth_np, layer_np = dist.numpy_probs(mask)
        total = torch.tensor(self.fixed_ms(depth_np, layer_np), dtype=torch.float64)
        for n in self.layers:
            reach = sum(depth_p_t[i] for i, d in enumerate(self.space.depths)
                        if d >= layer_depth(n))
            lat = self.candidate_ms(n, depth_np, layer_np)
            total = total + expected_max(lat, reach * dist.probs(n, mask), k)
        return total

    def expected_path(self, dist: Distribution, mask: CandidateMask) -> torch.Tensor:
        """E[latency of one path drawn from `dist`] (ms), differentiable in its logits,
        through each layer's input widths too."""
        sp = self.space
        depth_p = dist.depth_probs(mask).to(torch.float64)
        p = {n: dist.probs(n, mask).to(torch.float64) for n in self.layers}
        total = torch.tensor(self.block_ms(sp.stem_config()), dtype=torch.float64)
        for n in self.layers:
            k = int(n[3:])
            reach = sum(depth_p[i] for i, d in enumerate(sp.depths) if d >= layer_depth(n))
            if n.startswith("enc"):
                term = (p[n] @ self._matrix(n) if k == 0
                        else p[n] @ self._matrix(n) @ p[f"enc{k - 1}"])
            else:
                at = sum(depth_p[i] for i, d in enumerate(sp.depths) if d == k + 1)
                share = at / torch.clamp(torch.as_tensor(reach, dtype=torch.float64), min=1e-12)
                main = self._dec_term(n, f"enc{k + 1}", p)
                deeper = (self._dec_term(n, f"dec{k + 1}", p) if f"dec{k + 1}" in p
                          else torch.zeros((), dtype=torch.float64))
                term = share * main + (1 - share) * deeper
            total = total + reach * term
        return total + self._expected_head(depth_p, p)

    def _matrix(self, layer: str) -> torch.Tensor:
        """enc{k}: latency of candidate i fed by candidate j of enc{k−1} (a vector at k=0)."""
        key = f"m:{layer}"
        if key not in self._tensors:
            sp = self.space
            k = int(layer[3:])
            cands = sp.candidates(layer)
            if k == 0:
                m = [self.block_ms(sp.enc_config(0, c, sp.stem_width)) for c in cands]
            else:
                m = [[self.block_ms(sp.enc_config(k, c, f.width))
                      for f in sp.candidates(f"enc{k - 1}")] for c in cands]
            self._tensors[key] = torch.tensor(m, dtype=torch.float64)
        return self._tensors[key]

    def _dec_term(self, layer: str, main: str, p: dict[str, torch.Tensor]) -> torch.Tensor:
        """dec{k} fed by `main` (the bottleneck encoder or the decoder below), skip enc{k}."""
        key = f"d:{layer}:{main}"
        sp = self.space
        k = int(layer[3:])
        skip = f"enc{k}"
        if key not in self._tensors:
            self._tensors[key] = torch.tensor(
                [[[self.block_ms(sp.dec_config(k, c, m.width, s.width))
                   for s in sp.candidates(skip)] for m in sp.candidates(main)]
                 for c in sp.candidates(layer)], dtype=torch.float64)
        return torch.einsum("i,ims,m,s->", p[layer], self._tensors[key], p[main], p[skip])

    def _expected_head(self, depth_p: torch.Tensor, p: dict[str, torch.Tensor]) -> torch.Tensor:
        sp = self.space
        if sp.has_decoder:
            head = torch.tensor([self.block_ms(sp.head_config(c.width, 0))
                                 for c in sp.candidates("dec0")], dtype=torch.float64)
            return p["dec0"] @ head
        total = torch.zeros((), dtype=torch.float64)
        for i, d in enumerate(sp.depths):
            head = torch.tensor([self.block_ms(sp.head_config(c.width, d))
                                 for c in sp.candidates(f"enc{d}")], dtype=torch.float64)
            total = total + depth_p[i] * (p[f"enc{d}"] @ head)
        return total

    def _uniform_path_ms(self) -> float:
        sp = self.space
        depth_p = np.full(len(sp.depths), 1.0 / len(sp.depths))
        layer_p = {n: np.full(len(sp.candidates(n)), 1.0 / len(sp.candidates(n)))
                   for n in self.layers}
        total = self.fixed_ms(depth_p, layer_p)
        for n in self.layers:
            reach = sum(p for d, p in zip(sp.depths, depth_p, strict=True) if d >= layer_depth(n))
            total += reach * float(np.mean(self.candidate_ms(n, depth_p, layer_p)))
        return float(total)


def _width_marginal(cands, p: np.ndarray) -> list[tuple[int, float]]:
    out: dict[int, float] = {}
    total = float(np.sum(p))
    for c, pc in zip(cands, p, strict=True):
        if pc > 0:
            out[c.width] = out.get(c.width, 0.0) + float(pc) / total
    return list(out.items())


def expected_max(values: np.ndarray, probs: torch.Tensor, k: int) -> torch.Tensor:
    """E[max of K draws] of a categorical that puts `probs` on `values` and the remaining
    mass (1 − Σ probs) on 0: Σ_j v_j (F_j^K − F_{j−1}^K) over the sorted values."""
    order = np.argsort(values, kind="stable")
    v = torch.as_tensor(np.asarray(values)[order], dtype=torch.float64)
    p = probs.to(torch.float64)[torch.as_tensor(order)]
    absent = torch.clamp(1.0 - p.sum(), min=0.0)
    cdf = absent + torch.cumsum(p, 0)
    prev = torch.cat([absent.reshape(1), cdf[:-1]])
    return torch.sum(v * (cdf.clamp(max=1.0) ** k - prev.clamp(max=1.0) ** k))


def mias_loss(tsl: float | torch.Tensor, t_ms: float | torch.Tensor, *, eps_ce: float,
              eps_lat: float, reference_ms: float) -> float | torch.Tensor:
    """L = ε_ce · TSL + ε_lat · T / reference (the paper's loss, T in reference units)."""
    return eps_ce * tsl + eps_lat * t_ms / reference_ms
