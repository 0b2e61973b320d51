"""Selective compression (SC) on Cityscapes at full width, random-instance (RI) training masks:
a random 25% of the instances preserved (paper Sec. 4.2; Fig. 8 uses this mode with C = 8)."""

from tfgc.config import paper_semantic_config


def get_config():
    return paper_semantic_config("sc", num_channels=8, preserve_mode="ri")
