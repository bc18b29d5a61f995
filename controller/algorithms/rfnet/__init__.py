"""RFNet (Sun et al., RA-L 2020): real-time RGB-D fusion segmentation, re-implemented from its description.

Modules (torch is imported only by the ones that need it, never at package import):

    model       the network: two ResNet-18 trunks, attention fusion, SPP, SwiftNet-style decoder
    pretrained  ImageNet ResNet-18 weights from a local file or URL into both trunks
    data        sample reading, disparity normalisation, augmentation (numpy + PIL only)
    training    optimiser groups, cosine schedule, class weights, the training loop
    inference   the edge runtimes a trained network runs on (frozen graph, onnxruntime, bf16, int8)
    segmenter   ``RFNetSegmenter``, the registered basemodel plugin (no torch at import time)
    domain      ``TaskAllocationByDomainClassifier``: learned task allocation (numpy only)
    confidence  ``UnseenTaskByConfidence``: unseen-task detection from model confidence (no numpy)

See docs/rfnet.md for the design, the deviations from the released code and measured numbers.
"""

from __future__ import annotations

import os

# Why: torch's OpenMP threads spin-wait at every barrier by default. On a small machine shared with
# other work (2 cores, parallel builds) that turns a 0.5 s training step into 5-8 s (measured).
# Passive waiting costs ~nothing when the cores are free. It must be set before libgomp loads, i.e.
# before the first `import torch`, which is why it lives in the package's __init__ (an explicit
# environment setting by the user wins).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# The choices of RFNetSegmenter's ``inference`` hyper-parameter (inference.py describes each). Here, not in
# inference.py, because the segmenter checks them without importing torch.
INFERENCE_ENGINES = ("auto", "eager", "frozen", "compiled", "onnx", "bf16", "int8")
