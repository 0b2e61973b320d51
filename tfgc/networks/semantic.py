"""Feature extractor F of selective compression (paper Sec. 4.2, Fig. 9, Appendix E).

F maps the one-hot label map s [B, H, W, K] to features at latent resolution
[B, H/16, W/16, k_last] that G reads beside the (masked) quantised latents: c7s1-60, d120,
d240, d480, d960, the encoder's layout without the bottleneck conv.
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from tfgc.layers.blocks import ConvNormReLU, Downsample
from tfgc.networks.widths import scaled_all


class SemanticFeatureExtractor(tf.keras.Model):
    def __init__(self, filters: Sequence[int] = (60, 120, 240, 480, 960),
                 norm: str = "instance", padding: str = "reflect",
                 width_multiplier: float = 1.0, name: str = "semantic_features"):
        super().__init__(name=name)
        widths = scaled_all(filters, width_multiplier)
        self.downsampling_factor = 2 ** (len(widths) - 1)
        self.blocks = [ConvNormReLU(widths[0], 7, norm, padding, name=f"c7s1_{widths[0]}")]
        self.blocks += [Downsample(k, norm, name=f"d{k}") for k in widths[1:]]

    def call(self, label_map: tf.Tensor) -> tf.Tensor:
        """One-hot label map [B, H, W, K] (H, W multiples of 16) -> [B, H/16, W/16, k_last]."""
        x = label_map
        for block in self.blocks:
            x = block(x)
        return x
