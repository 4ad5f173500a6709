"""Records round-trip exactly: choices, block configs, architectures, spaces."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from mias.errors import InputError
from mias.space import Architecture, BlockChoice, BlockConfig, SearchSpace


def test_block_choice_key_round_trip() -> None:
    choices = [BlockChoice("mbconv", (3, 3, 1), 32, 6, 2, True, True, "batch", "hardswish"),
               BlockChoice("conv", (5, 5), 8),
               BlockChoice("my_op", (3, 3, 3), 16, se=True)]
    for c in choices:
        assert BlockChoice.from_key(c.key) == c
    with pytest.raises(ValueError):
        BlockChoice.from_key("conv_k3_w8")


def test_block_config_keys_round_trip(small_space: SearchSpace) -> None:
    configs = small_space.all_block_configs()
    keys = [c.key for c in configs]
    assert len(set(keys)) == len(keys)
    for c in configs:
        assert BlockConfig.from_key(c.key) == c
        assert BlockConfig.from_dict(json.loads(json.dumps(c.to_dict()))) == c
        assert all(ch.isalnum() or ch in "-_" for ch in c.key)


def test_block_config_rejects_inconsistent_fields() -> None:
    with pytest.raises(ValueError):
        BlockConfig("stem", BlockChoice("conv", (3, 3), 8), 2, 1, 0, 8, (8, 8), (1, 1), (1, 1))
    with pytest.raises(ValueError):
        BlockConfig("enc", BlockChoice("conv", (3, 3), 8), 2, 8, 4, 8, (8, 8), (1, 1), (1, 1))
    with pytest.raises(ValueError):
        BlockConfig.from_key("enc-x-d2")


def test_space_round_trip_through_json(small_space: SearchSpace, tmp_path) -> None:
    d = json.loads(json.dumps(small_space.to_dict()))
    assert d["schema_version"] == 1
    again = SearchSpace.from_dict(d)
    assert again == small_space
    assert again.exclusions == small_space.exclusions
    assert again.to_dict() == d
    path = tmp_path / "search_space.json"
    path.write_text(json.dumps(d))
    assert SearchSpace.load(path) == small_space


def test_bad_space_file_names_the_file(tmp_path) -> None:
    path = tmp_path / "search_space.json"
    path.write_text(json.dumps({"schema_version": 1, "depths": [1]}))
    with pytest.raises(InputError, match=r"search_space\.json"):
        SearchSpace.load(path)


def test_sampling_is_seeded_and_valid(small_space: SearchSpace) -> None:
    a = [small_space.sample(np.random.default_rng(7)) for _ in range(2)]
    assert a[0] == a[1]
    rng = np.random.default_rng(0)
    archs = [small_space.sample(rng) for _ in range(40)]
    assert {x.depth for x in archs} == set(small_space.depths)
    for arch in archs:
        small_space.check(arch)
        assert Architecture.from_dict(json.loads(json.dumps(arch.to_dict()))) == arch
        assert len(arch.id) == 12


def test_mutation_is_a_seeded_neighbour(small_space: SearchSpace) -> None:
    rng = np.random.default_rng(1)
    for _ in range(40):
        arch = small_space.sample(rng)
        seed = int(rng.integers(1 << 30))
        child = small_space.mutate(arch, np.random.default_rng(seed))
        assert child == small_space.mutate(arch, np.random.default_rng(seed))
        assert child != arch
        small_space.check(child)
        if child.depth == arch.depth:
            changed = [n for n, c in child.layers.items() if arch.layers[n] != c]
            assert len(changed) == 1
        else:
            assert abs(child.depth - arch.depth) == 1
            shared = set(child.layers) & set(arch.layers)
            assert all(child.layers[n] == arch.layers[n] for n in shared)


def test_size_counts_every_architecture(small_space: SearchSpace) -> None:
    expected = 0
    for d in small_space.depths:
        count = 1
        for name in small_space.layer_names(d):
            count *= len(small_space.candidates(name))
        expected += count
    assert small_space.size() == expected > 1000


def test_check_rejects_foreign_choices(small_space: SearchSpace) -> None:
    arch = small_space.sample(np.random.default_rng(0))
    alien = BlockChoice("conv", arch.encoder[0].kernel, 999)
    bad = Architecture(arch.depth, (alien, *arch.encoder[1:]), arch.decoder)
    with pytest.raises(ValueError, match="enc0"):
        small_space.check(bad)


def test_block_configs_follow_the_path(small_space: SearchSpace) -> None:
    rng = np.random.default_rng(3)
    union = {c.key for c in small_space.all_block_configs()}
    for _ in range(30):
        arch = small_space.sample(rng)
        configs = small_space.block_configs(arch)
        roles = [c.role for c in configs]
        n_dec = arch.depth if small_space.has_decoder else 0
        assert roles == ["stem", *["enc"] * (arch.depth + 1), *["dec"] * n_dec, "head"]
        for before, after in itertools.pairwise(configs):
            assert after.in_shape == before.out_shape
            assert after.in_channels == before.out_channels
        assert configs[-1].out_channels == small_space.out_channels
        assert {c.key for c in configs} <= union
    assert len(union) <= 400
