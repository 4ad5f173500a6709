"""Table keys are `BlockConfig.key`: one canonical form that round-trips exactly."""

from mias.hardware import LatencyTable
from mias.space import BlockConfig

from .conftest import timing


def test_every_block_of_a_space_round_trips_through_its_key(tiny_space):
    configs = tiny_space.all_block_configs()
    keys = [c.key for c in configs]
    assert len(set(keys)) == len(keys) == 8
    assert [BlockConfig.from_key(k) for k in keys] == configs


def test_table_keys_survive_the_file_and_map_back_to_configs(tmp_path, hand_table, tiny_space):
    configs = tiny_space.all_block_configs()
    table = hand_table.model_copy(update={"entries": {c.key: hand_table.entries["a"]
                                                      for c in configs}})
    loaded = LatencyTable.load(table.save(tmp_path / "lut.json"))
    assert sorted(BlockConfig.from_key(k).key for k in loaded.entries) == sorted(
        c.key for c in configs)
    assert loaded.latency_ms(configs[0].key) == timing(1.0).ratio * loaded.reference_ms
