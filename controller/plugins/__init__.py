"""Plugin loading: algorithm modules and metrics named by `url` in the YAML files."""
