"""The paper's GC model with C=2 bottleneck channels (bound 0.0181 bpp) at full width, for a GPU."""

from tfgc.config import paper_gc_config


def get_config():
    return paper_gc_config(num_channels=2)
