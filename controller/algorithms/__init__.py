"""Built-in base models: honest, dependency-light baselines for segmentation benchmarks."""
