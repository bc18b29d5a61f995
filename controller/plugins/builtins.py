"""Names usable in algorithm.yaml without a `url`: the modules shipped with ianvs-lab.

Only strings here, so `controller validate` can check names without importing numpy.
"""

from __future__ import annotations

BUILTIN_MODULES: dict[str, str] = {
    # basemodels
    "PixelSoftmaxSegmenter": "controller.algorithms.pixel_softmax",
    "MajorityClassSegmenter": "controller.algorithms.majority",
    "RFNetSegmenter": "controller.algorithms.rfnet.segmenter",  # torch is imported on first use only
    # task definition / allocation / unseen-sample recognition (lifelong learning)
    "TaskDefinitionByAttribute": "controller.paradigms.tasks",
    "TaskDefinitionByOrigin": "controller.paradigms.tasks",
    "TaskAllocationByAttribute": "controller.paradigms.tasks",
    "TaskAllocationByOrigin": "controller.paradigms.tasks",
    "TaskAllocationLatest": "controller.paradigms.tasks",
    "TaskAllocationByDomainClassifier": "controller.algorithms.rfnet.domain",
    "UnseenTaskByAllocation": "controller.paradigms.tasks",
    "NoUnseenSamples": "controller.paradigms.tasks",
    "UnseenTaskByConfidence": "controller.algorithms.rfnet.confidence",
}
