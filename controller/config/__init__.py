"""Typed, validated configuration: benchmarkingjob.yaml, testenv.yaml, algorithm.yaml (Ianvs's testenvmanager, the
reading half).

- ``models``: the pydantic models of the three files; ``rank``: the ``rank:`` section.
- ``loader``: reads a benchmarking job and what it names into a ``JobConfig`` (paths resolved, errors with
  file:line:key).
- ``yamlsource``: YAML with line numbers; ``paths``: ``~``/``$VAR`` expansion and relative paths.
"""
