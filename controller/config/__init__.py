"""Typed, validated configuration: benchmarkingjob.yaml, testenv.yaml, algorithm.yaml."""
