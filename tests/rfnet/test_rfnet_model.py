"""The RFNet network: size, shapes, fusion wiring and gradient flow, as the paper describes them."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from controller.algorithms.rfnet.model import RFNet, count_parameters, pyramid_cells


@pytest.fixture(scope="module")
def rgbd() -> RFNet:
    torch.manual_seed(0)
    return RFNet(19).eval()


@pytest.fixture(scope="module")
def rgb_only() -> RFNet:
    torch.manual_seed(0)
    return RFNet(19, with_depth=False).eval()


# Hand count (docs/rfnet.md): RGB trunk 11,176,512 + depth trunk 11,170,240 + 8 attention convs
# 698,240 + SPP 116,476 + 3 upsampling modules 501,376 + head BN(128) 256 + conv 128*C*9.
@pytest.mark.parametrize(
    ("with_depth", "classes", "expected"),
    [
        (True, 19, 23_684_988),  # the paper's ~23.7 M
        (True, 20, 23_686_140),  # + 128*9 for the extra class
        (False, 19, 11_816_508),  # no depth trunk, no attention: SwiftNet-RN18 size
    ],
)
def test_parameter_count(with_depth: bool, classes: int, expected: int) -> None:
    assert count_parameters(RFNet(classes, with_depth=with_depth)) == expected


def test_parts_have_the_sizes_of_the_description(rgbd: RFNet) -> None:
    parts = {"rgb": rgbd.rgb, "depth": rgbd.depth, "spp": rgbd.spp, "upsample": rgbd.upsample, "head": rgbd.head}
    sizes = {name: count_parameters(module) for name, module in parts.items()}
    attention = count_parameters(rgbd.attention) + count_parameters(rgbd.attention_depth)
    assert sizes == {"rgb": 11_176_512, "depth": 11_170_240, "spp": 116_476, "upsample": 501_376, "head": 22_144}
    assert attention == 2 * sum(c * c + c for c in (64, 128, 256, 512))


@pytest.mark.parametrize(("height", "width"), [(64, 128), (257, 513), (33, 65), (40, 40)])
@pytest.mark.parametrize("mode", ["rgbd", "rgb-only model", "rgbd model without depth"])
def test_output_has_the_input_size(rgbd: RFNet, rgb_only: RFNet, mode: str, height: int, width: int) -> None:
    rgb = torch.randn(1, 3, height, width)
    with torch.inference_mode():
        if mode == "rgbd":
            out = rgbd(rgb, torch.randn(1, 1, height, width))
        elif mode == "rgb-only model":
            out = rgb_only(rgb)
        else:
            out = rgbd(rgb, None)
    assert tuple(out.shape) == (1, 19, height, width)


@pytest.mark.parametrize(
    ("height", "width", "cells"),
    [
        (32, 64, [(8, 16), (4, 8), (2, 4)]),  # 2:1 (a 2048x1024 image at 1/32)
        (9, 17, [(8, 15), (4, 8), (2, 4)]),  # 513x257: round(8*17/9)=15, round(4*17/9)=8, round(2*17/9)=4
        (24, 24, [(8, 8), (4, 4), (2, 2)]),  # square crop
        (16, 2, [(8, 1), (4, 1), (2, 1)]),  # very tall: at least one column
    ],
)
def test_spp_grids_follow_the_feature_aspect_ratio(height: int, width: int, cells: list[tuple[int, int]]) -> None:
    assert pyramid_cells(height, width) == cells


def test_rgb_only_model_refuses_a_depth_input(rgb_only: RFNet) -> None:
    with pytest.raises(ValueError, match="RGB-only"):
        rgb_only(torch.randn(1, 3, 32, 32), torch.randn(1, 1, 32, 32))


def test_fusion_is_rgb_gate_plus_depth_gate() -> None:
    """With the RGB gates forced open (1) and the depth gates shut (0), RGB-D equals the RGB-only path."""
    torch.manual_seed(1)
    net = RFNet(5).eval()
    with torch.no_grad():
        for gate, bias in ((net.attention, 60.0), (net.attention_depth, -60.0)):
            for module in gate:
                module.conv.weight.zero_()
                module.conv.bias.fill_(bias)
        rgb, depth = torch.randn(1, 3, 64, 64), torch.randn(1, 1, 64, 64)
        assert torch.allclose(net(rgb, depth), net(rgb, None), atol=1e-5)


def test_depth_changes_the_output_of_the_fused_model(rgbd: RFNet) -> None:
    rgb = torch.randn(1, 3, 64, 64)
    with torch.inference_mode():
        first, second = rgbd(rgb, torch.randn(1, 1, 64, 64)), rgbd(rgb, torch.randn(1, 1, 64, 64))
    assert not torch.allclose(first, second)


def test_depth_branch_continues_unfused(rgbd: RFNet) -> None:
    """Depth stage k+1 receives depth stage k's own output, not the fused RGB feature."""
    seen: dict[str, torch.Tensor] = {}
    hooks = [
        rgbd.depth.layer1.register_forward_hook(lambda m, i, o: seen.__setitem__("depth1_out", o[0])),
        rgbd.depth.layer2.register_forward_pre_hook(lambda m, i: seen.__setitem__("depth2_in", i[0])),
        rgbd.rgb.layer2.register_forward_pre_hook(lambda m, i: seen.__setitem__("rgb2_in", i[0])),
    ]
    try:
        with torch.inference_mode():
            rgbd(torch.randn(1, 3, 64, 64), torch.randn(1, 1, 64, 64))
    finally:
        for hook in hooks:
            hook.remove()
    assert torch.equal(seen["depth2_in"], seen["depth1_out"])
    assert not torch.allclose(seen["rgb2_in"], seen["depth2_in"])


def test_every_parameter_of_the_rgbd_model_gets_a_gradient() -> None:
    """No detached stage (the Ianvs copy detaches them): the loss reaches both trunks' stems."""
    torch.manual_seed(2)
    net = RFNet(4).train()
    logits = net(torch.randn(2, 3, 64, 64), torch.randn(2, 1, 64, 64))
    F.cross_entropy(logits, torch.randint(0, 4, (2, 64, 64))).backward()
    without = [name for name, p in net.named_parameters() if p.grad is None or not torch.any(p.grad != 0)]
    assert without == []
