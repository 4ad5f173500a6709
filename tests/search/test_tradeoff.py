"""The search's trade-off on an exact table: the task term decides where latency is equal,
ε_lat moves the choice along the trade-off, E[T] falls, pruning waits for evidence."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest

from mias.hardware import Figure, create_device
from mias.hardware.predictors import LatencyPredictor
from mias.presets import load_preset
from mias.presets.models import PruneStep
from mias.records import TaskSpec
from mias.search.controller import MiasSearch
from mias.search.evaluator import Evaluator, PathScore
from mias.search.pruning import confident_drops, prune_layer
from mias.space import Architecture, BlockChoice, BlockConfig, SearchSpace
from mias.space.geometry import plan_stages


def conv(width: int, op: str = "conv") -> BlockChoice:
    return BlockChoice(op=op, kernel=(3, 3), width=width)


@pytest.fixture
def space() -> SearchSpace:
    """Depth 1, 2D: enc0 of widths 4/8/16 (and a dilated 8, as fast as the plain 8),
    enc1 of 8/16, dec0 of 4/8: 16 architectures."""
    task = TaskSpec(kind="segmentation", spatial_dims=2, in_channels=1, input_shape=(8, 8),
                    num_classes=2, label_names=("background", "lesion"), modality="CT",
                    spacing=(1.0, 1.0))
    return SearchSpace(task=task, stem_width=4, depths=(1,),
                       stages=tuple(plan_stages(task.input_shape, task.spacing, 1)),
                       encoder=((conv(4), conv(8), conv(8, "dilated"), conv(16)),
                                (conv(8), conv(16))),
                       decoder=((conv(4), conv(8)),))


class WidthLatency(LatencyPredictor):
    """A block costs its channels × pixels: the operator does not matter, the width does."""

    device = create_device("host")

    def block_ms(self, config: BlockConfig) -> float:
        return config.in_channels * config.out_channels * math.prod(config.in_shape) / 1000

    def predict(self, space: SearchSpace, arch: Architecture) -> Figure:
        return Figure(value=sum(self.block_ms(c) for c in space.block_configs(arch)),
                      unit="ms", source="estimated", device="host", model="width-cost",
                      basis="channels × pixels")


class ExactTable(Evaluator):
    """A metric known exactly per architecture: wider is better, with diminishing returns;
    the dilated operator is worth more than the plain one of the same width."""

    def value(self, arch: Architecture) -> float:
        e0, e1 = arch.encoder
        (d0,) = arch.decoder
        return (0.3 + 0.1 * math.log2(e0.width / 4) + 0.1 * (e0.op == "dilated")
                + 0.05 * math.log2(e1.width / 8) + 0.05 * math.log2(d0.width / 4))

    def score(self, archs: Sequence[Architecture]) -> list[PathScore]:
        return [PathScore(a, self.value(a), 1.0 - self.value(a)) for a in archs]

    def step(self, archs: Sequence[Architecture], step: int,
             teacher: Architecture | None = None) -> list[PathScore]:
        return self.score(archs)


def search(space: SearchSpace, eps_lat: float, *, budget: float | None = None,
           latency_term: str = "max", references: dict[str, float] | None = None
           ) -> MiasSearch:
    settings = load_preset("demo").search.model_copy(update={
        "epochs": 6, "steps_per_epoch": 25, "paths_per_step": 4, "warmup_epochs": 0,
        "eps_ce": 1.0, "eps_lat": eps_lat, "arch_lr": 0.1, "latency_term": latency_term,
        "hpo": load_preset("demo").search.hpo.model_copy(update={"enabled": False})})
    return MiasSearch(space, ExactTable(), WidthLatency(), settings, seed=0,
                      steps_per_epoch=25, latency_budget_ms=budget, references=references)


def test_without_a_latency_term_the_better_of_two_equally_fast_candidates_wins(space):
    run = search(space, eps_lat=0.0)
    out = run.run()
    assert out.arch.encoder[0] == conv(8, "dilated") or out.arch.encoder[0].width == 16
    # of the two candidates at 8 channels, the dilated one is the only one that can remain
    log = [d for d in out.pruning_log if d["layer"] == "enc0" and d["action"] == "pruned"]
    assert conv(8, "dilated").key not in {d["candidate"] for d in log}


@pytest.mark.parametrize(("term", "grid"), [("max", (0.0, 0.03, 0.1, 0.3, 1.0)),
                                            ("path", (0.0, 0.1, 0.3, 1.0, 3.0))])
def test_raising_eps_lat_moves_the_choice_along_the_trade_off(space, term, grid):
    chosen = []
    for eps in grid:
        out = search(space, eps_lat=eps, latency_term=term).run()
        chosen.append((out.latency.value, ExactTable().value(out.arch)))
    latencies = [lat for lat, _ in chosen]
    metrics = [m for _, m in chosen]
    assert latencies == sorted(latencies, reverse=True)
    assert metrics == sorted(metrics, reverse=True)
    assert len(set(latencies)) >= 3  # a trade-off, not a switch


def test_expected_t_falls_during_a_search_with_a_latency_term(space):
    out = search(space, eps_lat=1.0).run()
    e_t = [row["expected_t_ms"] for row in out.history]
    assert e_t[-1] < 0.8 * e_t[0]


def test_pruning_refuses_to_decide_on_a_candidate_with_no_samples():
    names = ["a", "b", "c"]
    est = {0: (0.9, 20), 1: (0.1, 20), 2: (0.0, 0)}  # c never sampled: scored at nothing
    lat = {0: 1.0, 1: 1.0, 2: 1.0}
    drops, log = prune_layer("enc0", names, est, lat, 1, eps_ce=1.0, eps_lat=0.0,
                             reference_ms=1.0, step=3)
    assert drops == [1]
    assert {d["candidate"]: d["action"] for d in log}["c"] == "kept"


def test_a_candidate_is_pruned_only_when_its_interval_clears_the_keep_th_best():
    scores = {0: 0.50, 1: 0.45, 2: 0.20}
    counts = {0: 10, 1: 10, 2: 10}
    assert confident_drops(scores, {0: 0.1, 1: 0.1, 2: 0.1}, counts, 1) == [2]
    assert confident_drops(scores, {0: 0.2, 1: 0.2, 2: 0.2}, counts, 1) == []
    assert confident_drops(scores, {0: 0.0, 1: 0.0, 2: 0.0}, counts, 1) == [1, 2]


def test_the_choice_states_its_latency_rank_and_warns_when_it_is_the_fastest(space):
    from mias.search.api import search_warnings

    fast = search(space, eps_lat=300.0).run()
    assert fast.latency_rank["is_fastest"] and fast.latency_rank["faster_share"] == 0.0
    (warning,) = search_warnings(fast.latency_rank)
    assert "fastest member" in warning and "--latency-budget" in warning
    slow = search(space, eps_lat=0.0, references={"unet": 0.0, "huge": 1e9}).run()
    assert not slow.latency_rank["is_fastest"] and slow.latency_rank["faster_share"] > 0.5
    assert search_warnings(slow.latency_rank) == []
    refs = slow.latency_rank["references"]
    assert refs["unet"] == {"latency_ms": 0.0, "space_faster_share": 0.0}
    assert refs["huge"]["space_faster_share"] == 1.0


def test_the_expected_latency_of_one_path_is_exact_and_charges_the_next_layers(space):
    import itertools

    import torch

    from mias.search.state import CandidateMask, Distribution, from_indices

    torch.manual_seed(3)
    dist = Distribution(space)
    with torch.no_grad():
        for logits in dist.parameters():
            logits.normal_()
    mask = CandidateMask.full(space)
    run = search(space, eps_lat=1.0)
    _, layer_p = dist.numpy_probs(mask)
    names = list(layer_p)
    exact = 0.0
    for pick in itertools.product(*(range(len(layer_p[n])) for n in names)):
        prob = math.prod(layer_p[n][i] for n, i in zip(names, pick, strict=True))
        arch = from_indices(space, 0, dict(zip(names, pick, strict=True)))
        exact += prob * run.latency.path_ms(arch)
    value = run.latency.expected_path(dist, mask)
    assert float(value.detach()) == pytest.approx(exact, rel=1e-6)
    value.backward()
    # a wider enc0 also makes enc1 slower: its gradient exceeds its own block's share
    grad = dist.logits["enc0"].grad
    assert grad[3] > grad[0]  # 16 channels costs more than 4, all layers after it included


def test_a_budget_is_a_constraint_with_a_multiplier_not_a_price(space):
    free = search(space, eps_lat=0.0).run()
    budget = 0.6 * free.latency.value
    run = search(space, eps_lat=0.0, budget=budget)
    out = run.run()
    assert out.latency.value <= budget < free.latency.value
    multipliers = [row["lagrange"] for row in out.history]
    assert max(multipliers) > 0  # it had to push
    assert out.history[-1]["expected_path_ms"] <= 1.05 * budget
    # the best metric under the budget (enumerated), not merely something under it
    best = max(ExactTable().value(a) for a in all_archs(space)
               if WidthLatency().predict(space, a).value <= budget)
    assert ExactTable().value(out.arch) == pytest.approx(best)


def test_under_a_budget_the_latency_price_does_not_prune(space):
    """A budget replaces ε_lat's price, in pruning too: with the preset's ε_lat still set,
    every pruning decision scores the metric alone (the price alone would pick a faster
    network), and the search returns the best metric under the budget."""
    free = search(space, eps_lat=0.0).run()
    budget = 0.6 * free.latency.value
    priced = search(space, eps_lat=1.0).run()
    out = search(space, eps_lat=1.0, budget=budget).run()
    best = max(ExactTable().value(a) for a in all_archs(space)
               if WidthLatency().predict(space, a).value <= budget)
    assert ExactTable().value(priced.arch) < best
    assert out.pruning_log and all(d["score"] == pytest.approx(d["metric"])
                                   for d in out.pruning_log)   # ε_ce = 1: no latency term
    assert out.latency.value <= budget
    assert ExactTable().value(out.arch) == pytest.approx(best)


def all_archs(space: SearchSpace) -> list[Architecture]:
    import itertools

    from mias.search.state import all_layers, from_indices

    names = all_layers(space)
    return [from_indices(space, 0, dict(zip(names, pick, strict=True)))
            for pick in itertools.product(*(range(len(space.candidates(n))) for n in names))]


class Learning(ExactTable):
    """Every path's metric rises by `rate` per step for `until` steps, then holds."""

    trains = True

    def __init__(self, rate: float, until: int) -> None:
        self.rate, self.until, self.now = rate, until, 0

    def step(self, archs: Sequence[Architecture], step: int,
             teacher: Architecture | None = None) -> list[PathScore]:
        self.now = step
        lift = self.rate * min(step, self.until)
        return [PathScore(a, self.value(a) + lift, 1.0 - self.value(a) - lift) for a in archs]


def gated(space: SearchSpace, evaluator: Evaluator, eps_lat: float = 0.1) -> MiasSearch:
    settings = load_preset("demo").search.model_copy(update={
        "epochs": 6, "steps_per_epoch": 25, "paths_per_step": 4, "warmup_epochs": 0,
        "eps_ce": 1.0, "eps_lat": eps_lat, "gate_window": 5, "gate_min_gain": 0.01,
        "prune": [PruneStep(at=0.2, keep=2), PruneStep(at=0.6, keep=1)],
        "hpo": load_preset("demo").search.hpo.model_copy(update={"enabled": False})})
    return MiasSearch(space, evaluator, WidthLatency(), settings, seed=0, steps_per_epoch=25)


def test_pruning_waits_until_the_supernet_has_learned(space):
    # scheduled at step 30; every path still improves by 0.01 a step until step 60 (no
    # latency pull, whose shift of the sampled paths would dip the metric for a while)
    out = gated(space, Learning(rate=0.01, until=60), eps_lat=0.0).run()
    first = out.pruning_log[0]["gate"]
    assert first["scheduled_step"] == 30 and first["reason"] == "plateau"
    assert 60 < first["step"] < 90 and first["gain_over_window"] < 0.01
    assert out.schedule["pruned_at"][0] == first["step"]
    # a metric that never stops rising: each point waits until the next one is due
    out = gated(space, Learning(rate=0.01, until=10_000), eps_lat=0.0).run()
    assert [d["gate"]["reason"] for d in out.pruning_log] == ["deadline"] * len(out.pruning_log)
    assert out.schedule["pruned_at"] == [89, 150]


class LateLearning(Learning):
    """Flat at chance until `start`, then rising by `rate` per step until `until`."""

    def __init__(self, rate: float, start: int, until: int) -> None:
        super().__init__(rate, until)
        self.start = start

    def step(self, archs: Sequence[Architecture], step: int,
             teacher: Architecture | None = None) -> list[PathScore]:
        lift = self.rate * min(max(step - self.start, 0), self.until - self.start)
        return [PathScore(a, self.value(a) + lift, 1.0 - self.value(a) - lift) for a in archs]


class AtChance(Learning):
    """Weights that never learn: every path scores chance."""

    def step(self, archs: Sequence[Architecture], step: int,
             teacher: Architecture | None = None) -> list[PathScore]:
        return [PathScore(a, 0.02, 1.0) for a in archs]


def test_no_architecture_decision_before_the_supernet_has_learned(space):
    # flat from the start: a plateau at chance is not learning, so nothing is decided (no
    # pruning, no move of the distribution) before the last step, and the result says so
    out = gated(space, AtChance(rate=0.0, until=0)).run()
    assert out.schedule["learned_at"] is None and out.schedule["pruned_at"] == [150]
    assert {d["gate"]["reason"] for d in out.pruning_log} == {"not learned"}
    assert len({round(h["expected_path_ms"], 9) for h in out.history}) == 1
    from mias.search.api import search_warnings
    assert any("never rose" in w for w in search_warnings(out.latency_rank, out.schedule))
    # learns late: the distribution moves only from then on, and the first decision waits
    # for it and for gate_window fresh steps after it
    out = gated(space, LateLearning(rate=0.01, start=70, until=120)).run()
    learned = out.schedule["learned_at"]
    assert 70 < learned < 90
    assert out.schedule["pruned_at"][0] >= learned + 5
    moved = [h["step"] for h in out.history[1:]
             if h["expected_path_ms"] != out.history[0]["expected_path_ms"]]
    assert moved and moved[0] > learned


def test_the_one_path_term_still_pulls_a_collapsed_distribution(space):
    """At ε_lat = 30 the paper's T has lost its gradient on a distribution collapsed onto a
    slower candidate; the expected latency of one path has not."""
    fastest = min(WidthLatency().predict(space, a).value for a in all_archs(space))
    path = search(space, eps_lat=30.0, latency_term="path").run()
    paper = search(space, eps_lat=30.0, latency_term="max").run()
    assert path.latency.value == pytest.approx(fastest)
    assert paper.latency.value > 1.5 * fastest


class SharedBatchNoise(Learning):
    """A trained supernet's scores: each step's validation batch shifts every path of the
    step alike, by far more (uniform ±2) than candidates differ (≤ 0.2)."""

    def __init__(self) -> None:
        super().__init__(rate=0.1, until=60)
        self.rng = np.random.default_rng(3)

    def step(self, archs: Sequence[Architecture], step: int,
             teacher: Architecture | None = None) -> list[PathScore]:
        shift = float(self.rng.uniform(-2.0, 2.0))
        return [PathScore(s.arch, s.metric + shift, s.loss - shift)
                for s in super().step(archs, step)]


def test_pruning_compares_the_paths_of_a_step_so_its_batch_noise_cancels(space):
    # the step's shift is shared by its paths: compared within the step, the worst enc0
    # candidate (width 4, 0.2 below the best) is dropped with confidence at the first point;
    # pooled as raw scores, its interval would span the ±2 noise and nothing could go
    out = gated(space, SharedBatchNoise(), eps_lat=0.0).run()
    first = [d for d in out.pruning_log if d["layer"] == "enc0"
             and d["step"] == out.schedule["pruned_at"][0]]
    assert {d["candidate"]: d["action"] for d in first}[space.candidates("enc0")[0].key] \
        == "pruned"
    assert all(d["score_halfwidth"] < 0.1 for d in first)
    assert ExactTable().value(out.arch) == pytest.approx(max(
        ExactTable().value(a) for a in all_archs(space)))


class SharedWeightsFavourDepthOne(ExactTable):
    """Trained alone, depth 2 is better by 0.1; on shared weights (`step`) depth 1 looks
    better by 0.2, as a supernet's fastest-learning depth does."""

    def value(self, arch: Architecture) -> float:
        return 0.3 + 0.05 * math.log2(arch.encoder[0].width / 4) + 0.1 * (arch.depth == 2)

    def step(self, archs: Sequence[Architecture], step: int,
             teacher: Architecture | None = None) -> list[PathScore]:
        return [PathScore(a, self.value(a) + 0.3 * (a.depth == 1), 0.0) for a in archs]

    def race(self, archs: Sequence[Architecture], steps: int) -> list[PathScore]:
        self.raced = (list(archs), steps)
        return self.score(archs)


def raced(space: SearchSpace, race_steps: int, eps_lat: float = 0.0,
          budget: float | None = None) -> tuple[MiasSearch, SharedWeightsFavourDepthOne]:
    settings = load_preset("demo").search.model_copy(update={
        "epochs": 4, "steps_per_epoch": 25, "paths_per_step": 4, "warmup_epochs": 0,
        "eps_ce": 1.0, "eps_lat": eps_lat, "arch_lr": 0.1, "race_steps": race_steps,
        "hpo": load_preset("demo").search.hpo.model_copy(update={"enabled": False})})
    evaluator = SharedWeightsFavourDepthOne()
    return MiasSearch(space, evaluator, WidthLatency(), settings, seed=0, steps_per_epoch=25,
                      latency_budget_ms=budget), evaluator


def test_the_depth_is_decided_by_networks_trained_alone(two_depths):
    plain = raced(two_depths, race_steps=0)[0].run()
    assert plain.arch.depth == 1 and plain.race is None  # shared weights alone mislead
    run, evaluator = raced(two_depths, race_steps=7)
    out = run.run()
    archs, steps = evaluator.raced
    assert steps == 7 and sorted(a.depth for a in archs) == [1, 2]
    assert out.arch.depth == 2
    assert [e["depth"] for e in out.race["entries"] if e["chosen"]] == [2]
    last = max(d["step"] for d in out.pruning_log)
    assert all(d.get("decided_by") == "race" for d in out.pruning_log if d["step"] == last)


def test_the_race_prices_latency_as_the_search_does(two_depths):
    """The race's objective carries ε_lat: a high price keeps the faster depth."""
    priced = raced(two_depths, race_steps=7, eps_lat=10.0)[0].run()
    assert priced.arch.depth == 1
    entries = {e["depth"]: e for e in priced.race["entries"]}
    assert entries[2]["metric"] > entries[1]["metric"]
    assert entries[2]["latency_ms"] > entries[1]["latency_ms"]


def test_under_a_budget_only_networks_that_fit_race(two_depths):
    deep = [a for a in (raced(two_depths, 0)[0].space.sample(np.random.default_rng(i))
                        for i in range(200)) if a.depth == 2]
    budget = min(WidthLatency().predict(two_depths, a).value for a in deep) * 1.01
    run, _ = raced(two_depths, race_steps=5, budget=budget)
    out = run.run()
    assert all(e["latency_ms"] <= budget for e in out.race["entries"])
    assert out.latency.value <= budget and out.arch.depth == 2



class CapacityPays(SharedWeightsFavourDepthOne):
    """Trained alone, every extra channel helps (and depth 2 more); on shared weights the
    narrow paths learn fastest and look best, so the supernet's best-scored path is the
    narrowest and leaves a budget unspent."""

    def capacity(self, arch: Architecture) -> float:
        return sum(math.log2(b.width) for b in (*arch.encoder, *arch.decoder))

    def value(self, arch: Architecture) -> float:
        return 0.1 * (arch.depth == 2) + 0.02 * self.capacity(arch)

    def step(self, archs: Sequence[Architecture], step: int,
             teacher: Architecture | None = None) -> list[PathScore]:
        return [PathScore(a, self.value(a) - 0.05 * self.capacity(a), 0.0) for a in archs]


def test_under_a_budget_the_race_also_trains_the_path_grown_into_the_budget(two_depths):
    deep = {a for a in (two_depths.sample(np.random.default_rng(i)) for i in range(400))
            if a.depth == 2}
    ms = {a: WidthLatency().predict(two_depths, a).value for a in deep}
    budget = (min(ms.values()) + max(ms.values())) / 2
    settings = raced(two_depths, 0)[0].settings.model_copy(update={"race_steps": 5})
    out = MiasSearch(two_depths, CapacityPays(), WidthLatency(), settings, seed=0,
                     steps_per_epoch=25, latency_budget_ms=budget).run()
    kinds = {e["path"]: e for e in out.race["entries"] if e["depth"] == 2}
    assert set(kinds) == {"best-scored", "budget-filled"}
    assert kinds["best-scored"]["latency_ms"] < kinds["budget-filled"]["latency_ms"] <= budget
    assert kinds["budget-filled"]["chosen"] and out.arch.id == kinds["budget-filled"]["arch_id"]
    # grown until nothing costlier fits: every single swap to a costlier block is over budget
    blocks = (*out.arch.encoder, *out.arch.decoder)
    for other in deep:
        swapped = [x != y for x, y in zip(blocks, (*other.encoder, *other.decoder),
                                          strict=True)]
        if sum(swapped) == 1 and ms[other] > ms[out.arch]:
            assert ms[other] > budget
