"""The building blocks named in the paper's appendix (after pix2pixHD).

c7s1-k: 7x7 stride-1 conv with k filters; dk: 3x3 stride-2 conv; Rk: residual block of two 3x3
convs; uk: x2 upsampling to k filters. Each conv is followed by a norm and a ReLU unless noted.
"""

from __future__ import annotations

import tensorflow as tf

from tfgc.layers.norms import make_norm

UPSAMPLINGS = ("transpose", "resize_conv", "subpixel")
PADDINGS = ("reflect", "symmetric", "zero")


class PaddedConv(tf.keras.layers.Layer):
    """Stride-1 conv that pads explicitly, so borders see mirrored content instead of zeros."""

    def __init__(self, filters: int, kernel_size: int, padding: str = "reflect", **kwargs):
        name = kwargs.pop("name", None)
        super().__init__(name=name)
        if padding not in PADDINGS:
            raise ValueError(f"unknown padding {padding!r}; choose one of {PADDINGS}")
        self.pad = kernel_size // 2
        self.padding = padding
        self.conv = tf.keras.layers.Conv2D(filters, kernel_size, padding="valid", **kwargs)

    def call(self, x):
        paddings = [[0, 0], [self.pad, self.pad], [self.pad, self.pad], [0, 0]]
        if not self.pad:
            pass
        elif self.padding == "zero":
            x = tf.pad(x, paddings)
        elif self.padding == "symmetric":
            x = tf.pad(x, paddings, mode="SYMMETRIC")
        else:
            # Reflection needs more than `pad` pixels; tiny maps (a 16x16 image has a 1x1
            # latent) fall back to symmetric padding, which needs only `pad`.
            shape = tf.shape(x)
            fits = tf.minimum(shape[1], shape[2]) > self.pad
            x = tf.cond(fits, lambda: tf.pad(x, paddings, mode="REFLECT"),
                        lambda: tf.pad(x, paddings, mode="SYMMETRIC"))
        return self.conv(x)


class ConvNormReLU(tf.keras.Sequential):
    """c{k}s1-{filters}: padded conv, norm, ReLU."""

    def __init__(self, filters: int, kernel_size: int, norm: str, padding: str, name=None):
        super().__init__([
            PaddedConv(filters, kernel_size, padding),
            make_norm(norm),
            tf.keras.layers.ReLU(),
        ], name=name)


class Downsample(tf.keras.Sequential):
    """dk: 3x3 stride-2 conv, norm, ReLU (halves H and W)."""

    def __init__(self, filters: int, norm: str, name=None):
        super().__init__([
            tf.keras.layers.Conv2D(filters, 3, strides=2, padding="same"),
            make_norm(norm),
            tf.keras.layers.ReLU(),
        ], name=name)


class ResidualBlock(tf.keras.layers.Layer):
    """Rk: x + norm(conv(relu(norm(conv(x))))), both convs 3x3 with k filters."""

    def __init__(self, filters: int, norm: str, padding: str, name=None):
        super().__init__(name=name)
        self.body = tf.keras.Sequential([
            PaddedConv(filters, 3, padding),
            make_norm(norm),
            tf.keras.layers.ReLU(),
            PaddedConv(filters, 3, padding),
            make_norm(norm),
        ])

    def call(self, x):
        return x + self.body(x)


class NearestUpsample2x(tf.keras.layers.Layer):
    """x2 nearest-neighbour upsampling as a broadcast and a reshape.

    The same values as `UpSampling2D(2, "nearest")`, but its gradient is a plain sum instead of
    ResizeNearestNeighborGrad, which XLA cannot compile on CPU (so `jit_compile` works there).
    """

    def call(self, x):
        shape = tf.shape(x)
        # A reshape, not x[:, :, None, :, None, :]: TFLite's StridedSlice has no new axes.
        grid = tf.reshape(x, [shape[0], shape[1], 1, shape[2], 1, shape[3]])
        tiled = tf.broadcast_to(grid, [shape[0], shape[1], 2, shape[2], 2, shape[3]])
        return tf.reshape(tiled, [shape[0], 2 * shape[1], 2 * shape[2], x.shape[-1] or shape[3]])

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        return (b, None if h is None else 2 * h, None if w is None else 2 * w, c)


class Upsample(tf.keras.Sequential):
    """uk: x2 upsampling to k filters, norm, ReLU.

    `transpose` is the paper's (pix2pixHD) stride-2 transposed conv; it leaves a grid pattern
    early in training, so `resize_conv` (nearest x2 then 3x3 conv) and `subpixel` (3x3 conv to 4k
    channels then depth-to-space) are offered.
    """

    def __init__(self, filters: int, norm: str, method: str, padding: str, name=None):
        if method == "transpose":
            layers = [tf.keras.layers.Conv2DTranspose(filters, 3, strides=2, padding="same")]
        elif method == "resize_conv":
            layers = [NearestUpsample2x(),
                      PaddedConv(filters, 3, padding)]
        elif method == "subpixel":
            layers = [PaddedConv(4 * filters, 3, padding),
                      tf.keras.layers.Lambda(lambda x: tf.nn.depth_to_space(x, 2))]
        else:
            raise ValueError(f"unknown upsampling {method!r}; choose one of {UPSAMPLINGS}")
        super().__init__([*layers, make_norm(norm), tf.keras.layers.ReLU()], name=name)
