"""GC(D+) on Cityscapes at full width (paper Sec. 4.1): label maps fed to D only, in training.

C = 4 (bound 0.036 bpp; the paper's Cityscapes user study uses C = 2, 4, 8: override with
--config.model.num_channels). Encoding and decoding need no label map.
"""

from tfgc.config import paper_semantic_config


def get_config():
    return paper_semantic_config("gc_dplus", num_channels=4)
