"""ONNX export: opset pinned, dynamic batch, decoder blocks with two inputs, parity."""

from __future__ import annotations

import numpy as np
import onnx
import torch

from mias.onnx_export import OPSET, check_parity, export_onnx, onnx_bytes, run_onnx
from mias.space import SearchSpace, block_example_inputs, build_block, build_network


def test_network_exports_with_pinned_opset_and_dynamic_batch(small_space: SearchSpace,
                                                             tmp_path) -> None:
    arch = small_space.sample(np.random.default_rng(11))
    net = build_network(small_space, arch, seed=0).eval()
    task = small_space.task
    x = torch.randn(1, task.in_channels, *task.input_shape)
    path = export_onnx(net, (x,), tmp_path / "model.onnx", input_names=["image"])
    model = onnx.load(path)
    assert model.opset_import[0].version == OPSET
    assert [i.name for i in model.graph.input] == ["image"]
    batch = torch.randn(3, task.in_channels, *task.input_shape)
    with torch.no_grad():
        expected = net(batch).numpy()
    (got,) = run_onnx(path, (batch,))
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() <= 1e-4
    assert not list(tmp_path.glob(".*"))


def test_decoder_block_exports_with_two_inputs(small_space: SearchSpace) -> None:
    configs = [c for c in small_space.all_block_configs() if c.role == "dec"]
    if not small_space.has_decoder:
        assert configs == []
        return
    for config in configs[:: max(1, len(configs) // 4)]:
        block = build_block(config).eval()
        inputs = block_example_inputs(config)
        record = check_parity(block, onnx_bytes(block, inputs, input_names=["x", "skip"]),
                              inputs)
        assert record["passed"], config.key
        assert record["opset"] == OPSET


def test_parity_record_reports_a_mismatch() -> None:
    model = torch.nn.Conv2d(1, 1, 3, padding=1).eval()
    x = torch.randn(1, 1, 8, 8)
    data = onnx_bytes(model, (x,))
    with torch.no_grad():
        model.weight.add_(1.0)
    record = check_parity(model, data, (x,))
    assert not record["passed"] and record["max_abs_diff"] > 1e-4
