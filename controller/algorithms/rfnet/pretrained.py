"""ImageNet ResNet-18 weights for RFNet's trunks, from a local file or a URL the user names.

Nothing is fetched implicitly (no model hub): `pretrained_url` is either a path, a ``file://`` URL or
an ``http(s)://`` URL. A downloaded file is kept in the case workspace (``<case>/pretrained/``) and
reused. The file is a state dict in torchvision's ``resnet18`` layout (``conv1.weight``,
``bn1.*``, ``layer1.0.conv1.weight``, ..., ``fc.*``); a ``state_dict``/``model`` wrapper and a
``module.`` prefix are accepted. ``fc.*`` is dropped; every other key must match in name and shape.

The RGB trunk gets the weights as they are. The depth trunk (1-channel stem) optionally gets them
too, with its stem filter the mean over the three RGB input channels:
``W_d[o, 0, :, :] = (1/3) * sum_c W[o, c, :, :]`` (the released RFNet code leaves the depth branch
random; its unused helper does this).
"""

from __future__ import annotations

import logging
import os
import shutil
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import torch

from controller.algorithms.rfnet.model import RFNet

log = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT_S = 60


def resolve(url: str, cache_dir: Path) -> Path:
    """A local path for `url`: the path itself, a file:// path, or a download into `cache_dir`.

    ``$VARS`` and ``~`` are expanded first (hyper-parameters are not paths to the config loader, so a
    job can say ``pretrained_url: $RESNET18_WEIGHTS``); a relative path is relative to the working
    directory.
    """
    expanded = os.path.expanduser(os.path.expandvars(url))
    if "$" in expanded:
        raise ValueError(f"pretrained_url: environment variable in {url!r} is not set")
    url = expanded
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme in ("", "file"):
        path = Path(urllib.parse.unquote(parsed.path) if parsed.scheme == "file" else url).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"pretrained_url: weights file not found: {path}")
        return path
    if parsed.scheme not in ("http", "https"):
        raise ValueError(
            f"pretrained_url: unsupported scheme {parsed.scheme!r} in {url!r}; use a path, file://, http:// or https://"
        )
    name = Path(parsed.path).name or "weights.pth"
    target = cache_dir / name
    if target.is_file():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    log.info("downloading pretrained weights %s -> %s", url, target)
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response, partial.open("wb") as handle:  # noqa: S310
        shutil.copyfileobj(response, handle)
    partial.replace(target)
    return target


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a torchvision-style checkpoint, unwrapped and without ``module.`` prefixes."""
    data: Any = torch.load(path, map_location="cpu", weights_only=True)
    for wrapper in ("state_dict", "model"):
        if isinstance(data, dict) and isinstance(data.get(wrapper), dict):
            data = data[wrapper]
    if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise ValueError(f"{path}: expected a state dict (name -> tensor) of a ResNet-18")
    return {k.removeprefix("module."): v for k, v in data.items()}


def load_imagenet_resnet18(model: RFNet, path: Path, *, into_depth: bool = True) -> list[str]:
    """Copy ResNet-18 weights into the RGB trunk (and the depth trunk); returns the trunks filled."""
    weights = {k: v for k, v in read_state_dict(path).items() if not k.startswith("fc.")}
    _check(model.rgb.state_dict(), weights, path)
    model.rgb.load_state_dict(weights, strict=True)
    filled = ["rgb"]
    if into_depth and model.depth is not None:
        depth_weights = dict(weights)
        depth_weights["conv1.weight"] = weights["conv1.weight"].mean(dim=1, keepdim=True)
        model.depth.load_state_dict(depth_weights, strict=True)
        filled.append("depth")
    log.info("loaded ImageNet ResNet-18 weights from %s into the %s trunk(s)", path, " and ".join(filled))
    return filled


def _check(expected: dict[str, torch.Tensor], given: dict[str, torch.Tensor], path: Path) -> None:
    missing = sorted(set(expected) - set(given))
    unexpected = sorted(set(given) - set(expected))
    if missing or unexpected:
        raise ValueError(
            f"{path}: not a torchvision ResNet-18 state dict: missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
            f"unexpected {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}"
        )
    for key, tensor in expected.items():
        if tuple(given[key].shape) != tuple(tensor.shape):
            raise ValueError(
                f"{path}: {key} has shape {tuple(given[key].shape)}, ResNet-18 needs {tuple(tensor.shape)}"
            )
