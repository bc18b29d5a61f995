"""Plugin loading: algorithm modules and metrics named by `url` in the YAML files.

- ``registry``: ``@register`` and the names it knows; ``builtins``: the built-in plugins by name.
- ``loader``: import a plugin file or dotted module; ``context``: the ``Context`` handed to plugins.
"""
