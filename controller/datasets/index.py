"""Ianvs-compatible index files: one sample per line, space-separated paths, the LAST token is the label.

Format (what KubeEdge Ianvs reads, plus comments)::

    # comment lines and blank lines are skipped
    leftImg8bit/train/aachen/aachen_000000_000019_leftImg8bit.png disparity/...png gtFine/...labelTrainIds.png

- tokens[:-1] are the inputs (``rgb label`` or ``rgb depth label``), tokens[-1] is the label;
- relative paths resolve against the index file's folder (not the working directory);
- every sample line has the same number of columns as the first one;
- paths cannot contain whitespace (Ianvs splits on spaces), and a first path cannot start with ``#``.

Sample attributes (used to define lifelong-learning tasks) are derived from the rgb path alone, so a
task rule never needs to open a file or consult side data:

    city    Cityscapes city from the file name ``<city>_<seq>_<frame>_<type>.png``
    folder  name of the rgb file's parent folder
    domain  name of the folder above ``folder`` unless it is a split/modality folder (train, val,
            leftImg8bit, rgb, ...): ``train/leftImg8bit/cityscapes_real/aachen/x.png`` -> cityscapes_real,
            ``leftImg8bit/train/aachen/x.png`` -> None
    column:<n>  the n-th token exactly as written, 0-based; negative n counts from the end (-1 = label)
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from controller import fsio
from controller.datasets.cityscapes import parse_cityscapes_name
from controller.errors import DatasetError

TRAIN_INDEX = "train-index.txt"
TEST_INDEX = "test-index.txt"
"""Default names of a dataset's index files, inside the dataset folder (synth, pull, index, testenv)."""

ATTRIBUTE_NAMES: tuple[str, ...] = ("city", "folder", "domain", "column:<n>")
_COLUMN_RE = re.compile(r"^column:(-?\d+)$")

STRUCTURAL_FOLDERS: frozenset[str] = frozenset(
    name.lower()
    for name in (
        # splits
        "train",
        "val",
        "test",
        "train_extra",
        "trainval",
        "training",
        "validation",
        "testing",
        # modalities / annotation kinds
        "leftImg8bit",
        "rightImg8bit",
        "leftImg16bit",
        "rightImg16bit",
        "gtFine",
        "gtCoarse",
        "disparity",
        "depth",
        "rgb",
        "image",
        "images",
        "img",
        "imgs",
        "label",
        "labels",
        "annotations",
        "gt",
        "viz",
        "JPEGImages",
    )
)
"""Folder names that describe a split or a modality, never a domain (compared case-insensitively)."""


@dataclass(frozen=True)
class Sample:
    """One index line: resolved input paths, resolved label path, and where it came from.

    ``tokens`` keeps the line's paths exactly as written (for ``column:<n>`` attributes); samples built
    by hand may leave it empty, then the resolved paths stand in.
    """

    inputs: tuple[Path, ...]
    label: Path
    index_file: Path
    line: int
    tokens: tuple[str, ...] = field(default=(), repr=False)

    @property
    def rgb(self) -> Path:
        """The first input (the image)."""
        return self.inputs[0]

    @property
    def depth(self) -> Path | None:
        """The second input (depth/disparity), None for ``rgb label`` lines."""
        return self.inputs[1] if len(self.inputs) > 1 else None

    @property
    def city(self) -> str | None:
        """Cityscapes city parsed from the rgb file name, None if the name is not Cityscapes-style."""
        parsed = parse_cityscapes_name(self.rgb.name)
        return parsed.city if parsed else None

    @property
    def folder(self) -> str | None:
        """Name of the rgb file's parent folder."""
        return self.rgb.parent.name or None

    @property
    def domain(self) -> str | None:
        """Folder above :attr:`folder` for ``<domain>/<city-or-seq>/file`` layouts, else None."""
        if self.folder is None:
            return None
        above = self.rgb.parent.parent.name
        if not above or above.lower() in STRUCTURAL_FOLDERS:
            return None
        return above

    def attribute(self, name: str) -> str | None:
        """Value of a named attribute: ``city``, ``folder``, ``domain`` or ``column:<n>``.

        Raises ValueError for an unknown name and DatasetError (naming index file and line) for a
        column number outside the line.
        """
        if name in ("city", "folder", "domain"):
            value: str | None = getattr(self, name)
            return value
        column = parse_column_attribute(name)
        tokens = self.tokens or tuple(str(p) for p in (*self.inputs, self.label))
        if not -len(tokens) <= column < len(tokens):
            raise DatasetError(
                f"attribute {name!r}: column {column} out of range, the line has {len(tokens)} columns (0-based)",
                file=self.index_file,
                line=self.line,
            )
        return tokens[column]


def parse_column_attribute(name: str) -> int:
    """Validate an attribute name; return n for ``column:<n>``. ValueError names the allowed forms."""
    match = _COLUMN_RE.match(name)
    if match:
        return int(match[1])
    raise ValueError(f"unknown sample attribute {name!r}; expected one of {', '.join(ATTRIBUTE_NAMES)}")


def validate_attribute_name(name: str) -> None:
    """Raise ValueError unless ``name`` is a valid :meth:`Sample.attribute` name (for early config checks)."""
    if name not in ("city", "folder", "domain"):
        parse_column_attribute(name)


# --- reading ------------------------------------------------------------------------------------


def _read_lines(path: Path) -> list[str]:
    if not path.exists():
        raise DatasetError("index file not found", file=path)
    if not path.is_file():
        raise DatasetError("index path is not a file", file=path)
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise DatasetError(f"index file is not UTF-8 text ({exc.reason} at byte {exc.start})", file=path) from None


def read_index(path: str | Path, *, check_exists: bool = True) -> list[Sample]:
    """Parse an index file into samples; with ``check_exists`` every named file must exist.

    Sample paths (and ``index_file``) are absolute and normalised (``a/../b`` -> ``b``).
    Errors (DatasetError with file and 1-based line): missing index file, no sample lines, a line with
    fewer than 2 columns or a different column count than the first sample line, a missing file.
    """
    path = Path(os.path.normpath(Path(path).absolute()))
    lines = _read_lines(path)
    base = path.parent
    samples: list[Sample] = []
    columns: int | None = None
    for number, raw in enumerate(lines, start=1):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        tokens = tuple(text.split())
        if columns is None:
            if len(tokens) < 2:
                raise DatasetError(
                    f"expected at least 2 space-separated paths (inputs then label), found {len(tokens)}",
                    file=path,
                    line=number,
                )
            columns = len(tokens)
        elif len(tokens) != columns:
            raise DatasetError(
                f"expected {columns} columns like the first sample line, found {len(tokens)}", file=path, line=number
            )
        resolved = tuple(Path(os.path.normpath(base / token)) for token in tokens)
        if check_exists:
            for token, full in zip(tokens, resolved, strict=True):
                if not os.path.isfile(full):
                    raise DatasetError(f"file not found: {token}", file=path, line=number)
        samples.append(Sample(resolved[:-1], resolved[-1], path, number, tokens))
    if not samples:
        raise DatasetError("empty index file: no samples", file=path)
    return samples


def _size_of(sample: Sample, image: Path) -> tuple[int, int]:
    try:
        from controller.datasets.images import png_size  # numpy/PIL only when images are read

        return png_size(image)
    except DatasetError as exc:
        raise DatasetError(f"{image}: {exc.message}", file=sample.index_file, line=sample.line) from None


def check_samples(samples: Iterable[Sample]) -> None:
    """Check that every label (and depth / further input) has the size of its rgb image.

    Reads only image headers (:func:`png_size`), so thousands of samples take a fraction of a second.
    Raises DatasetError naming the index file, the line, both paths and both sizes (width x height).
    """
    for sample in samples:
        rgb_w, rgb_h = _size_of(sample, sample.rgb)
        others = [(("depth" if i == 1 else f"input {i}"), p) for i, p in enumerate(sample.inputs) if i > 0]
        others.append(("label", sample.label))
        for kind, other in others:
            w, h = _size_of(sample, other)
            if (w, h) != (rgb_w, rgb_h):
                raise DatasetError(
                    f"size mismatch: {kind} {other} is {w}x{h} but rgb {sample.rgb} is {rgb_w}x{rgb_h}",
                    file=sample.index_file,
                    line=sample.line,
                )


# --- writing ------------------------------------------------------------------------------------


def _relative_token(index_path: Path, base: Path, row: int, p: Path) -> str:
    token = Path(os.path.relpath(Path(p).absolute(), base)).as_posix()
    if any(ch.isspace() for ch in token):
        raise DatasetError(
            f"row {row}: path contains whitespace, which index files cannot represent: {str(p)!r}", file=index_path
        )
    return token


def write_index(path: str | Path, rows: Iterable[Sequence[str | Path]]) -> Path:
    """Write an index file with paths relative to its folder, atomically (temp file + rename).

    Relative input paths are taken relative to the working directory. Every row needs at least two
    paths (inputs then label) and the same count as the first row. Refuses paths with whitespace and
    an empty row list (Ianvs and :func:`read_index` could not read either back).
    """
    path = Path(path)
    base = path.absolute().parent
    lines: list[str] = []
    columns: int | None = None
    for number, row in enumerate(rows, start=1):
        tokens = [_relative_token(path, base, number, Path(p)) for p in row]
        if len(tokens) < 2:
            raise DatasetError(
                f"row {number}: expected at least 2 paths (inputs then label), got {len(tokens)}", file=path
            )
        if columns is None:
            columns = len(tokens)
        elif len(tokens) != columns:
            raise DatasetError(f"row {number}: expected {columns} paths like row 1, got {len(tokens)}", file=path)
        if tokens[0].startswith("#"):
            raise DatasetError(
                f"row {number}: a first path starting with '#' would read as a comment: {tokens[0]}", file=path
            )
        lines.append(" ".join(tokens))
    if not lines:
        raise DatasetError("no rows to write: an index file needs at least one sample", file=path)
    base.mkdir(parents=True, exist_ok=True)
    return fsio.write_text(path, "\n".join(lines) + "\n")


def index_checksum(path: str | Path) -> str:
    """sha256 hex digest of the index file's bytes (identifies exactly which sample list a run used)."""
    path = Path(path)
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        raise DatasetError("index file not found", file=path) from None
    except IsADirectoryError:
        raise DatasetError("index path is not a file", file=path) from None
