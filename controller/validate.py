"""Checks run before anything executes: every referenced plugin name and every index line.

Shared by `controller validate` and `controller run`, so a bad input fails both the same way
(exit code 2) before a single case runs or a leaderboard row is written.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from controller.config.loader import JobConfig
from controller.config.paths import is_dotted_module
from controller.errors import ConfigError
from controller.plugins.loader import accepted_parameters, load_plugin, scan_names, scan_parameters

if TYPE_CHECKING:
    from controller.datasets.index import Sample

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DataSummary:
    train_samples: int
    test_samples: int


def check_plugins(config: JobConfig) -> None:
    for algorithm in config.algorithms:
        for i, module in enumerate(algorithm.modules):
            key = f"algorithm.modules[{i}]"
            if module.url:
                _check_name(module.url, module.name, algorithm.file, key)
            _check_hyperparameters(module.url, module.name, sorted(module.grid), algorithm.file, key)
    env = config.testenv
    for i, metric in enumerate(env.metrics):
        if metric.url:
            _check_name(metric.url, metric.name, env.file, f"testenv.metrics[{i}]")
    if env.model_metric and env.model_metric.url:
        _check_name(env.model_metric.url, env.model_metric.name, env.file, "testenv.model_eval.model_metric")


def _check_name(url: str, name: str, config_file: Path, key: str) -> None:
    if is_dotted_module(url):
        try:
            found = importlib.util.find_spec(url) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            raise ConfigError(f"module {url!r} cannot be imported", file=config_file, key=f"{key}.url")
        return
    try:
        names = scan_names(Path(url))
    except SyntaxError as exc:
        raise ConfigError(
            f"syntax error in plugin {url}:{exc.lineno}: {exc.msg}", file=config_file, key=f"{key}.url"
        ) from None
    if name not in names:
        listing = ", ".join(sorted(names)) or "nothing"
        raise ConfigError(f"{name!r} not found in {url}; it defines: {listing}", file=config_file, key=f"{key}.name")


def _check_hyperparameters(url: str | None, name: str, given: list[str], config_file: Path, key: str) -> None:
    """A hyper-parameter the plugin cannot take (a typo such as `threhold`) fails before any run."""
    if not given:
        return
    if url and not is_dotted_module(url):
        accepted = scan_parameters(Path(url), name)
    else:
        accepted = accepted_parameters(load_plugin(url, name))
    if accepted is None:
        return
    unknown = [hp for hp in given if hp not in accepted]
    if unknown:
        raise ConfigError(
            f"{name} does not take {', '.join(map(repr, unknown))}; it accepts: {', '.join(sorted(accepted)) or 'nothing'}",
            file=config_file,
            key=f"{key}.hyperparameters",
        )


def check_data(config: JobConfig) -> DataSummary:
    """Every index line names existing files whose image sizes agree (headers only, fast)."""
    from controller.datasets.index import check_samples, read_index

    train = read_index(config.testenv.train_index)
    test = read_index(config.testenv.test_index)
    check_samples(train)
    check_samples(test)
    _warn_test_cities(train, "train", config.testenv.train_index)
    _warn_test_cities(test, "test", config.testenv.test_index)
    return DataSummary(len(train), len(test))


def _warn_test_cities(samples: list[Sample], which: str, index: Path) -> None:
    """Official Cityscapes test-split cities have dummy public labels: scores on them mean nothing."""
    from collections import Counter

    from controller.datasets.cityscapes import dummy_labels_warning, official_test_city

    cities = Counter(city for city in (official_test_city(s.rgb) for s in samples) if city)
    if cities:
        log.warning("%s: %s", index, dummy_labels_warning(cities, which))


def check_job(config: JobConfig) -> DataSummary:
    check_plugins(config)
    return check_data(config)
