"""ianvs-lab controller: benchmark edge-cloud collaborative lifelong-learning algorithms.

The public plugin API is deliberately tiny and import-cheap (no numpy, no torch):

    from controller import register, Context

    @register("MyModel")
    class MyModel: ...
"""

from controller.plugins.context import Context
from controller.plugins.registry import register

__version__ = "0.1.0"
__all__ = ["register", "Context", "__version__"]
