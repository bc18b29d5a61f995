"""Paradigms: how a test case trains and evaluates its modules (single-task, lifelong learning)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the paradigm modules import numpy: they are imported when a case runs
    from controller.paradigms.base import Paradigm

_PARADIGMS = {
    "singletasklearning": "controller.paradigms.singletask:SingleTaskLearning",
    "lifelonglearning": "controller.paradigms.lifelong:LifelongLearning",
}


def paradigm_class(name: str) -> type[Paradigm]:
    try:
        target = _PARADIGMS[name]
    except KeyError:
        raise ValueError(f"unknown paradigm {name!r}; expected one of: {', '.join(_PARADIGMS)}") from None
    module, attr = target.split(":")
    paradigm: type[Paradigm] = getattr(importlib.import_module(module), attr)
    return paradigm
