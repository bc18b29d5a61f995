"""`controller dataset ...`: the dataset sub-commands (argument parsing stays import-cheap)."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from controller.cliargs import positive_int as _positive_int, size as _size
from controller.errors import EXIT_BAD_INPUT, EXIT_OK

log = logging.getLogger("controller.cli")


def add_dataset_commands(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    dataset = commands.add_parser("dataset", help="dataset tools")
    actions = dataset.add_subparsers(dest="dataset_command", metavar="ACTION", required=True)
    synth = actions.add_parser("synth", help="write a small synthetic Cityscapes-format dataset with index files")
    synth.add_argument("path", type=Path, help="folder to create")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--train-per-city", type=_positive_int, default=16)
    synth.add_argument("--test-per-city", type=_positive_int, default=6)
    synth.add_argument("--size", type=_size, default=(256, 128), metavar="WxH", help="image size (default 256x128)")
    synth.add_argument("--overwrite", action="store_true", help="replace an existing dataset at PATH")


def run_dataset_command(args: argparse.Namespace) -> int:
    if args.dataset_command == "synth":
        return _synth(args)
    return EXIT_BAD_INPUT


def _synth(args: argparse.Namespace) -> int:
    from controller.datasets.synth import synthesize

    manifest = synthesize(
        args.path.resolve(), train_per_city=args.train_per_city, test_per_city=args.test_per_city,
        size=args.size, seed=args.seed, overwrite=args.overwrite,
    )
    log.info("wrote synthetic Cityscapes-format dataset to %s", manifest.root)
    print(manifest.train_index)
    print(manifest.test_index)
    return EXIT_OK
