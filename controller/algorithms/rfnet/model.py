"""The RFNet network: twin ResNet-18 encoders with attention fusion, SPP and a SwiftNet decoder.

Shapes for an H x W input (every stride-2 step rounds up, so odd sizes work)::

    stem   conv7x7/2 + maxpool/2  -> 64  ch at 1/4        stage 1 (layer1)  64 ch  1/4
    stage 2 (layer2) 128 ch 1/8    stage 3 (layer3) 256 ch 1/16    stage 4 (layer4) 512 ch 1/32

Fusion after stage k (k = 1..4), x = RGB stage output, y = depth stage output (both post-ReLU)::

    att(z) = sigmoid(W_k * avgpool(z) + b_k)          (1x1 conv on the pooled vector, one per branch)
    x <- x * att_k(x) + y * att_k_d(y)                 the fused x feeds RGB stage k+1;
                                                       y continues unfused in the depth branch

Decoder: SPP on the fused 1/32 features (pooling grids 8, 4, 2 rows with the input's aspect ratio,
e.g. 8x16 / 4x8 / 2x4 for 2:1), then three upsampling modules with the RGB branch's pre-ReLU skips of
stages 3, 2, 1::

    up(x, s) = blend(upsample_bilinear(x, size(s)) + bottleneck(s))
    bottleneck = BN-ReLU-conv1x1(C_s -> 128)      blend = BN-ReLU-conv3x3(128 -> 128)

and the head BN-ReLU-conv3x3(128 -> classes) at 1/4 resolution, bilinearly upsampled to H x W.

Parameters for 19 classes: 23,684,988 (RGB-D); an RGB-only model (``with_depth=False``) has no
depth branch and no attention modules: 11,816,508 (the SwiftNet-RN18 size). ``forward(rgb, None)``
on an RGB-D model runs the same RGB-only path (no attention), as the released code does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

STAGE_CHANNELS: tuple[int, ...] = (64, 128, 256, 512)
DECODER_CHANNELS = 128
SPP_GRIDS: tuple[int, ...] = (8, 4, 2)
SPP_LEVEL_CHANNELS = DECODER_CHANNELS // len(SPP_GRIDS)  # 42, as in SwiftNet's "128 // 3"


def _conv3x3(c_in: int, c_out: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """ResNet basic block that also returns its pre-ReLU sum (the decoder's skip feature)."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = _conv3x3(c_in, c_out, stride)
        self.bn1: nn.Module = nn.BatchNorm2d(c_out)  # nn.Module: inference graphs fold it away (an Identity)
        self.conv2 = _conv3x3(c_out, c_out)
        self.bn2: nn.Module = nn.BatchNorm2d(c_out)
        self.downsample: nn.Module | None = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = self.bn2(self.conv2(out)) + shortcut
        return F.relu(out), out


class Stage(nn.Sequential):
    """A run of basic blocks; returns (post-ReLU output, pre-ReLU output of the last block)."""

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        skip = x
        for block in self:
            x, skip = block(x)
        return x, skip


class ResNet18Trunk(nn.Module):
    """ResNet-18 without pooling/fc; attribute names match torchvision's so its weights load as-is."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
        self.bn1: nn.Module = nn.BatchNorm2d(64)  # nn.Module: inference graphs fold it away (an Identity)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        stages = []
        c_in = 64
        for index, c_out in enumerate(STAGE_CHANNELS):
            stride = 1 if index == 0 else 2
            stages.append(Stage(BasicBlock(c_in, c_out, stride), BasicBlock(c_out, c_out)))
            c_in = c_out
        self.layer1, self.layer2, self.layer3, self.layer4 = stages

    @property
    def stages(self) -> tuple[Stage, Stage, Stage, Stage]:
        return self.layer1, self.layer2, self.layer3, self.layer4

    def stem(self, x: Tensor) -> Tensor:
        stem: Tensor = self.maxpool(F.relu(self.bn1(self.conv1(x)), inplace=True))  # a Module call returns Any
        return stem


class ChannelAttention(nn.Module):
    """att(z) = sigmoid(conv1x1(avgpool(z))): one weight per channel, no reduction (the AFC module)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 1, bias=True)

    def forward(self, z: Tensor) -> Tensor:
        return torch.sigmoid(self.conv(F.adaptive_avg_pool2d(z, 1)))


class BNReluConv(nn.Sequential):
    """Pre-activation convolution: BN -> ReLU -> conv k x k (no bias), as in SwiftNet."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 3) -> None:
        super().__init__(
            nn.BatchNorm2d(c_in),
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=False),
        )


def pyramid_cells(height: int, width: int, grids: tuple[int, ...] = SPP_GRIDS) -> list[tuple[int, int]]:
    """Pooling grid of every SPP level: (g, max(1, round(g * width / height))) for each g in `grids`."""
    return [(grid, max(1, round(grid * width / height))) for grid in grids]


def pooling_matrix(size: int, cells: int, like: Tensor) -> Tensor:
    """cells x size matrix whose rows average adaptive pooling's windows [floor(i*n/c), ceil((i+1)*n/c))."""
    matrix = torch.zeros(cells, size, dtype=like.dtype, device=like.device)
    for i in range(cells):
        start, end = (i * size) // cells, -((-(i + 1) * size) // cells)
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix


def adaptive_avg_pool_by_matmul(x: Tensor, cells: tuple[int, int]) -> Tensor:
    """``F.adaptive_avg_pool2d(x, cells)`` as two matrix products (equal up to float rounding).

    Why: the ONNX exporter and oneDNN's pooling refuse grids that do not divide the feature map (a
    256x128 input has a 4x8 map and an 8x16 grid); products with constant matrices export and run anywhere.
    """
    rows = pooling_matrix(int(x.shape[-2]), cells[0], x)
    columns = pooling_matrix(int(x.shape[-1]), cells[1], x)
    return torch.matmul(torch.matmul(rows, x), columns.t())


class SpatialPyramidPooling(nn.Module):
    """SwiftNet SPP: bottleneck 512->128, three pooled levels of 42 ch, fused back to 128 ch.

    Level g pools to (g, max(1, round(g * w / h))) cells, where h x w is the 1/32 feature size, so
    the grid follows the image's aspect ratio (8x16, 4x8, 2x4 for a 2:1 image). ``pool_by_matmul``
    (set on inference graphs) pools with :func:`adaptive_avg_pool_by_matmul` instead.
    """

    def __init__(self, c_in: int = STAGE_CHANNELS[-1], grids: tuple[int, ...] = SPP_GRIDS) -> None:
        super().__init__()
        self.grids = grids
        self.pool_by_matmul = False
        self.bottleneck = BNReluConv(c_in, DECODER_CHANNELS, 1)
        self.levels = nn.ModuleList(BNReluConv(DECODER_CHANNELS, SPP_LEVEL_CHANNELS, 1) for _ in grids)
        self.fuse = BNReluConv(DECODER_CHANNELS + len(grids) * SPP_LEVEL_CHANNELS, DECODER_CHANNELS, 1)

    def forward(self, x: Tensor) -> Tensor:
        x = self.bottleneck(x)
        # plain ints: the pooling grid is a Python computation, and a traced graph records it as constants
        height, width = int(x.shape[-2]), int(x.shape[-1])
        pyramid = [x]
        for cells, level in zip(pyramid_cells(height, width, self.grids), self.levels):
            pool = adaptive_avg_pool_by_matmul if self.pool_by_matmul else F.adaptive_avg_pool2d
            pooled = level(pool(x, cells))
            pyramid.append(F.interpolate(pooled, size=(height, width), mode="bilinear", align_corners=False))
        fused: Tensor = self.fuse(torch.cat(pyramid, dim=1))  # a Module call returns Any
        return fused


class UpsampleModule(nn.Module):
    """up(x, s) = blend(upsample(x, size(s)) + bottleneck(s)): the SwiftNet ladder step."""

    def __init__(self, skip_channels: int) -> None:
        super().__init__()
        self.bottleneck = BNReluConv(skip_channels, DECODER_CHANNELS, 1)
        self.blend = BNReluConv(DECODER_CHANNELS, DECODER_CHANNELS, 3)

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        skip = self.bottleneck(skip)
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        blended: Tensor = self.blend(x + skip)  # a Module call returns Any
        return blended


class RFNet(nn.Module):
    """RFNet for `num_classes` classes; ``with_depth=False`` builds the RGB-only network.

    forward(rgb: B x 3 x H x W, depth: B x 1 x H x W or None) -> logits B x C x H x W.
    """

    def __init__(self, num_classes: int, *, with_depth: bool = True, init_weights: bool = True) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.num_classes = num_classes
        self.with_depth = with_depth
        self.rgb = ResNet18Trunk(3)
        self.depth: ResNet18Trunk | None = None
        self.attention: nn.ModuleList | None = None
        self.attention_depth: nn.ModuleList | None = None
        if with_depth:
            self.depth = ResNet18Trunk(1)
            self.attention = nn.ModuleList(ChannelAttention(c) for c in STAGE_CHANNELS)
            self.attention_depth = nn.ModuleList(ChannelAttention(c) for c in STAGE_CHANNELS)
        self.spp = SpatialPyramidPooling()
        # skips of stages 3, 2, 1, in the order the decoder consumes them
        self.upsample = nn.ModuleList(UpsampleModule(c) for c in reversed(STAGE_CHANNELS[:-1]))
        self.head = BNReluConv(DECODER_CHANNELS, num_classes, 3)
        if init_weights:  # False: weights about to be loaded (random normals on the meta device import torch._refs)
            self._init_weights()

    def _init_weights(self) -> None:
        """Kaiming-normal (fan_out, ReLU) convs and unit BN, except the head conv (PyTorch default)."""
        head_conv = self.head[-1]
        for module in self.modules():
            if isinstance(module, nn.Conv2d) and module is not head_conv:
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def encoder_modules(self) -> list[nn.Module]:
        """The pretrained-encoder part (lower learning rate): both trunks and the attention modules."""
        return [m for m in (self.rgb, self.depth, self.attention, self.attention_depth) if m is not None]

    def decoder_modules(self) -> list[nn.Module]:
        """The randomly initialised part (higher learning rate): SPP, upsampling modules and head."""
        return [self.spp, self.upsample, self.head]

    def forward(self, rgb: Tensor, depth: Tensor | None = None) -> Tensor:
        size = rgb.shape[-2:]
        if depth is not None and self.depth is None:
            raise ValueError("this RFNet was built RGB-only (with_depth=False) and cannot take a depth input")
        features, skips = self._encode(rgb, depth)
        x = self.spp(features)
        for module, skip in zip(self.upsample, reversed(skips)):
            x = module(x, skip)
        logits = self.head(x)
        return F.interpolate(logits, size=size, mode="bilinear", align_corners=False)

    def _encode(self, rgb: Tensor, depth: Tensor | None) -> tuple[Tensor, list[Tensor]]:
        x = self.rgb.stem(rgb)
        y = None
        if depth is not None:
            assert self.depth is not None and self.attention is not None and self.attention_depth is not None
            y = self.depth.stem(depth)
        skips: list[Tensor] = []
        for k, stage in enumerate(self.rgb.stages):
            x, skip = stage(x)
            if y is not None:  # only with a depth branch: asserted above
                assert self.depth is not None and self.attention is not None and self.attention_depth is not None
                y, _ = self.depth.stages[k](y)
                x = x * self.attention[k](x) + y * self.attention_depth[k](y)
            if k < len(STAGE_CHANNELS) - 1:
                skips.append(skip)
        return x, skips


def count_parameters(module: nn.Module) -> int:
    """Number of learnable parameters (BN running statistics are buffers and not counted)."""
    return sum(p.numel() for p in module.parameters())
