"""Datasets: Cityscapes label facts, image I/O, Ianvs index files and a synthetic Cityscapes-format set.

Kept import-cheap on purpose (no numpy, no PIL here): the CLI imports the package tree at start-up,
and only the submodules that are actually used pull in their dependencies.

Submodules:
    cityscapes  official label table, labelId -> trainId mapping, split cities, file-name parsing
    images      PNG header sizes, RGB / label / disparity readers, atomic PNG writer
    index       Ianvs-compatible index files (read, check, write, checksum)
    synth       procedurally drawn Cityscapes-format data set with conflicting visual domains
"""
