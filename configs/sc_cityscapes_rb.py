"""Selective compression (SC) on Cityscapes at full width, random-box (RB) training masks:
a box of random size at a uniformly random location preserved (paper Sec. 4.2)."""

from tfgc.config import paper_semantic_config


def get_config():
    return paper_semantic_config("sc", num_channels=8, preserve_mode="rb")
