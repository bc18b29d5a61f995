"""How a trained RFNet runs at inference: the edge runtimes ("inference engines") and their choice.

An engine maps normalised float32 inputs (RGB B x 3 x H x W, disparity B x 1 x H x W or None) to
float32 logits B x C x H x W. Every engine except ``eager`` starts from the same inference graph:
the batch norms that follow a convolution (every one in the two ResNet trunks) folded into it, in
fp32, and the channels_last layout. The engines (the algorithm YAML's ``inference`` hyper-parameter):

    eager     the network as trained (autocast as the ``amp`` setting says): the reference
    frozen    torch.jit trace + freeze (oneDNN convolutions), one graph per input shape
    compiled  torch.compile (Inductor with weight freezing); long first build (~70 s cold here)
    onnx      ONNX export run by onnxruntime (fp32; one session per input size, any batch)
    bf16      the frozen graph with bf16 weights and activations: fast only with AVX512-BF16/AMX
    int8      onnxruntime static quantisation (QDQ: uint8 activations, per-channel int8 weights)
              calibrated on up to CALIBRATION_IMAGES training images of the model's last round

``auto`` picks, on a CUDA device, ``eager`` (cuDNN with the ``amp`` autocast); on a CPU, ``bf16``
where the CPU has native bf16 and ``onnx`` elsewhere (``frozen`` when onnxruntime is missing), built
once the model has run AUTO_BUILD_AFTER_PIXELS input pixels eagerly (the segmenter applies this rule):
an ONNX build (export + session, ~3 s here) saves ~0.9 us per pixel afterwards, so a model that
infers a few small images (the demo's 18 test images of 256x128 per round) would lose time building
it. Waiting until eager inference has cost about one build is the ski-rental rule: never more than
twice the time of the better choice in hindsight.
Why (docs/rfnet.md, benchmarks/rfnet_bench.py): on the 2-core AVX2 machines here onnxruntime ran
the fp32 network 1.7x faster than eager NCHW, the frozen TorchScript graph 1.3x, torch.compile 1.4x
after a 70 s build; PT2E int8 + Inductor reached 2.2x after a 100 s build, onnxruntime int8 2.5x
after 9 s. Results of the fp32 engines equal eager within float rounding (tests/rfnet).

Engines are built lazily, once per model and input shape, and reused until the weights change.
"""

from __future__ import annotations

import copy
import io
import logging
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import torch
from torch import Tensor, nn

from controller.algorithms.rfnet import INFERENCE_ENGINES as ENGINES
from controller.algorithms.rfnet.model import BasicBlock, ResNet18Trunk, SpatialPyramidPooling

if TYPE_CHECKING:
    from controller.algorithms.rfnet.model import RFNet
    from controller.algorithms.rfnet.training import Runtime

log = logging.getLogger(__name__)

CALIBRATION_IMAGES = 8
# ~3 s of ONNX build / ~0.9 us saved per pixel (1024x512 and 256x128 alike, 2-core AVX2 machine): 3.5 Mpx
AUTO_BUILD_AFTER_PIXELS = 3_500_000
ONNX_OPSET = 17

# calibration inputs for one input size (height, width): [(rgb 1x3xHxW, depth 1x1xHxW or None), ...]
Calibration = Callable[[tuple[int, int]], Sequence[tuple[np.ndarray, np.ndarray | None]]]


class Engine(Protocol):
    name: str

    def __call__(self, rgb: Tensor, depth: Tensor | None) -> Tensor: ...


def native_bf16() -> bool:
    """True when oneDNN runs bf16 natively on this CPU (AVX512-BF16 or AMX); elsewhere it is emulated, slowly."""
    if not torch.backends.mkldnn.is_available():  # type: ignore[no-untyped-call]
        return False
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def onnxruntime_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def resolve(name: str, device: torch.device) -> str:
    """The engine ``name`` stands for on `device` (``auto`` resolved); raises for a choice the device cannot run."""
    if name not in ENGINES:
        raise ValueError(f"inference must be one of {', '.join(ENGINES)}; got {name!r}")
    if device.type != "cpu":
        if name not in ("auto", "eager", "compiled"):
            raise ValueError(f"inference {name!r} runs on the CPU only; on {device} use eager, compiled or auto")
        return "eager" if name == "auto" else name
    if name in ("onnx", "int8") and not onnxruntime_available():
        raise ValueError(f"inference {name!r} needs onnxruntime: pip install onnxruntime onnx")
    if name != "auto":
        return name
    if native_bf16():
        return "bf16"
    return "onnx" if onnxruntime_available() else "frozen"


def fold_batch_norm(net: RFNet) -> RFNet:
    """An eval-mode copy of `net` whose conv -> batch-norm pairs are single convolutions (fp32 arithmetic).

    Folded: each trunk's stem, both convolutions of every basic block and the downsampling shortcut.
    The decoder's batch norms come before a ReLU and then a convolution (pre-activation): they cannot
    be folded into a convolution and stay. The SPP pools by matrix products (any grid exports).
    """
    folded = copy.deepcopy(net).float().eval()
    for module in folded.modules():
        if isinstance(module, ResNet18Trunk):
            module.conv1, module.bn1 = _fold(module.conv1, module.bn1), nn.Identity()
        elif isinstance(module, BasicBlock):
            module.conv1, module.bn1 = _fold(module.conv1, module.bn1), nn.Identity()
            module.conv2, module.bn2 = _fold(module.conv2, module.bn2), nn.Identity()
            if isinstance(module.downsample, nn.Sequential):
                conv, norm = module.downsample
                module.downsample = nn.Sequential(_fold(conv, norm), nn.Identity())
        elif isinstance(module, SpatialPyramidPooling):
            module.pool_by_matmul = True
    return folded


def _fold(conv: nn.Module, norm: nn.Module) -> nn.Conv2d:
    assert isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d)
    assert norm.running_mean is not None and norm.running_var is not None
    scale = norm.weight.detach() / torch.sqrt(norm.running_var + norm.eps)
    fused = nn.Conv2d(
        conv.in_channels,
        conv.out_channels,
        conv.kernel_size,  # type: ignore[arg-type]  # a tuple, which Conv2d accepts
        stride=conv.stride,  # type: ignore[arg-type]
        padding=conv.padding,  # type: ignore[arg-type]
        bias=True,
    )
    bias = conv.bias.detach() if conv.bias is not None else torch.zeros_like(norm.running_mean)
    assert fused.bias is not None  # built with bias=True
    with torch.no_grad():
        fused.weight.copy_(conv.weight.detach() * scale[:, None, None, None])
        fused.bias.copy_((bias - norm.running_mean) * scale + norm.bias.detach())
    return fused


def build(
    name: str, net: RFNet, runtime: Runtime, calibration: Calibration | None = None, *, threads: int | None = None
) -> Engine:
    """The engine `name` (already resolved, see :func:`resolve`) for `net` as it is now."""
    if name == "eager":
        return EagerEngine(net, runtime)
    if name in ("frozen", "bf16"):
        return FrozenEngine(fold_batch_norm(net), bf16=name == "bf16")
    if name == "compiled":
        return CompiledEngine(fold_batch_norm(net).to(runtime.device), runtime)
    if name == "onnx":
        return OnnxEngine(fold_batch_norm(net), threads=threads)
    if name == "int8":
        if calibration is None:
            raise ValueError("inference 'int8' needs calibration images: train the model or load a trained snapshot")
        return OnnxEngine(fold_batch_norm(net), threads=threads, calibration=calibration)
    raise ValueError(f"unknown inference engine {name!r}")


def _channels_last(x: Tensor | None) -> Tensor | None:
    return None if x is None else x.contiguous(memory_format=torch.channels_last)


class EagerEngine:
    """The trained network itself, under the runtime's autocast: the reference every other engine is held to."""

    name = "eager"

    def __init__(self, net: RFNet, runtime: Runtime) -> None:
        self.net, self.runtime = net, runtime

    def __call__(self, rgb: Tensor, depth: Tensor | None) -> Tensor:
        with torch.inference_mode(), self.runtime.autocast():
            return self.net(rgb, depth).float()  # type: ignore[no-any-return]


class FrozenEngine:
    """TorchScript: traced per input shape (the SPP grid is computed from it) and frozen.

    Not ``optimize_for_inference``: its oneDNN layouts were no faster here (1.23x vs 1.28x eager NCHW) and
    its adaptive pooling refuses SPP grids that do not divide the feature map (e.g. 256x128 inputs).
    """

    def __init__(self, net: RFNet, *, bf16: bool) -> None:
        self.dtype = torch.bfloat16 if bf16 else torch.float32
        self.name = "bf16" if bf16 else "frozen"
        self.net = net.to(dtype=self.dtype, memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.graphs: dict[tuple[tuple[int, ...], bool], Any] = {}

    def __call__(self, rgb: Tensor, depth: Tensor | None) -> Tensor:
        inputs = tuple(
            t for t in (_channels_last(rgb.to(self.dtype)), _channels_last(_cast(depth, self.dtype))) if t is not None
        )
        key = (tuple(rgb.shape), depth is not None)
        graph = self.graphs.get(key)
        with torch.no_grad():
            if graph is None:
                started = time.perf_counter()
                with warnings.catch_warnings():
                    # the SPP grid and the upsampling sizes become constants: wanted, a graph is built per shape
                    warnings.simplefilter("ignore", torch.jit.TracerWarning)  # type: ignore[attr-defined]
                    traced = torch.jit.trace(self.net, inputs, check_trace=False)  # type: ignore[no-untyped-call]
                graph = torch.jit.freeze(traced.eval())
                self.graphs[key] = graph
                log.info(
                    "RFNet %s graph for %s built in %.1f s",
                    self.name,
                    "x".join(map(str, rgb.shape)),
                    time.perf_counter() - started,
                )
            return graph(*inputs).float()  # type: ignore[no-any-return]


def _cast(x: Tensor | None, dtype: torch.dtype) -> Tensor | None:
    return None if x is None else x.to(dtype)


class CompiledEngine:
    """torch.compile (Inductor, weights frozen into the graph); Dynamo recompiles per new input shape."""

    name = "compiled"

    def __init__(self, net: RFNet, runtime: Runtime) -> None:
        import torch._inductor.config as inductor

        inductor.freezing = True  # constant-folds the weights into the kernels (inference only)
        self.runtime = runtime
        self.net = net.to(memory_format=torch.channels_last)
        self.compiled = torch.compile(self.net, dynamic=False)

    def __call__(self, rgb: Tensor, depth: Tensor | None) -> Tensor:
        with torch.no_grad(), self.runtime.autocast():
            return self.compiled(_channels_last(rgb), _channels_last(depth)).float()  # type: ignore[no-any-return]


class OnnxEngine:
    """onnxruntime on the CPU: one exported graph per input size (batch dynamic), int8 when calibrated."""

    def __init__(self, net: RFNet, *, threads: int | None = None, calibration: Calibration | None = None) -> None:
        import onnxruntime

        self.net = net
        self.calibration = calibration
        self.name = "onnx" if calibration is None else "int8"
        self.options = onnxruntime.SessionOptions()
        self.options.intra_op_num_threads = threads or torch.get_num_threads()
        self.options.log_severity_level = 3  # warnings about unused initialisers and the like are not the user's
        self.sessions: dict[tuple[tuple[int, int], bool], Any] = {}

    def __call__(self, rgb: Tensor, depth: Tensor | None) -> Tensor:
        size = (int(rgb.shape[-2]), int(rgb.shape[-1]))
        key = (size, depth is not None)
        session = self.sessions.get(key)
        if session is None:
            started = time.perf_counter()
            session = self.sessions[key] = self._session(rgb[:1], None if depth is None else depth[:1])
            log.info(
                "RFNet %s session for %dx%d built in %.1f s", self.name, size[1], size[0], time.perf_counter() - started
            )
        feeds = {"rgb": rgb.detach().float().cpu().numpy()}
        if depth is not None:
            feeds["depth"] = depth.detach().float().cpu().numpy()
        return torch.from_numpy(session.run(None, feeds)[0])

    def _session(self, rgb: Tensor, depth: Tensor | None) -> Any:
        import onnxruntime

        model = export_onnx(self.net, rgb, depth)
        if self.calibration is not None:
            model = quantize_int8(model, self.calibration((int(rgb.shape[-2]), int(rgb.shape[-1]))))
        return onnxruntime.InferenceSession(model, self.options, providers=["CPUExecutionProvider"])


def export_onnx(net: RFNet, rgb: Tensor, depth: Tensor | None) -> bytes:
    """The network as an ONNX graph for this input size, batch dimension dynamic.

    The TorchScript-based exporter (``dynamo=False``): it exported RFNet in 2.7 s here against 11.9 s
    for the torch.export-based one, to the same graph speed.
    """
    args = (rgb.float().cpu(),) if depth is None else (rgb.float().cpu(), depth.float().cpu())
    names = ["rgb"] if depth is None else ["rgb", "depth"]
    buffer = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        # shapes traced as constants (a graph per input size is the design); dynamo=False is deprecated, kept for speed
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # type: ignore[attr-defined]
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            net.cpu().float(),
            args,
            buffer,  # type: ignore[arg-type]  # a binary file object is accepted as well as a path
            input_names=names,
            output_names=["logits"],
            dynamic_axes={name: {0: "batch"} for name in [*names, "logits"]},
            opset_version=ONNX_OPSET,
            dynamo=False,
        )
    return buffer.getvalue()


def quantize_int8(model: bytes, samples: Sequence[tuple[np.ndarray, np.ndarray | None]]) -> bytes:
    """Static QDQ quantisation by onnxruntime: per-channel int8 weights, uint8 activations, MinMax calibration."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if not samples:
        raise ValueError("int8 calibration needs at least one image")

    class Reader(CalibrationDataReader):  # type: ignore[misc]  # onnxruntime ships no type information
        def __init__(self) -> None:
            self.feeds = iter({"rgb": rgb} if depth is None else {"rgb": rgb, "depth": depth} for rgb, depth in samples)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.feeds, None)

    with tempfile.TemporaryDirectory(prefix="rfnet-int8-") as scratch:
        folder = Path(scratch)
        (folder / "fp32.onnx").write_bytes(model)
        quant_pre_process(str(folder / "fp32.onnx"), str(folder / "prepared.onnx"))
        quantize_static(
            str(folder / "prepared.onnx"),
            str(folder / "int8.onnx"),
            Reader(),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
        )
        return (folder / "int8.onnx").read_bytes()
