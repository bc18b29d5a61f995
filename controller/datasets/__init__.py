"""Datasets: fetch, verify, extract and index them; Cityscapes facts, image I/O, Ianvs index files, a synthetic set.

Kept import-cheap on purpose (no numpy, no PIL here): the CLI imports the package tree at start-up,
and only the submodules that are actually used pull in their dependencies.

Submodules:
    cityscapes  official label table, labelId -> trainId mapping, split cities, file-name parsing
    images      PNG header sizes, RGB / label / disparity readers, PNG writer
    index       Ianvs-compatible index files (read, check, write, checksum)
    layouts     folder-layout detection and index generation for whole datasets
    synth       procedurally drawn Cityscapes-format data set with conflicting visual domains
    catalog     named datasets (built-in catalog.yaml + a user catalog)
    sources     URLs (http, s3/obs, file) and their credentials, redacted in every message
    download    resumable, verified downloads with bounded retries
    progress    progress bars and periodic progress log lines
    extract     safe archive extraction (zip, tar.*) with archive-bomb limits
    cache       the managed cache: entries, cached archives, dataset markers and manifests, locks
    provision   make a dataset present and verified at a folder: resolve, obtain, extract, index
    commands    `controller dataset ...`
"""
