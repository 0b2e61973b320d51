"""A small DCGAN (Radford et al. 2016) generator z -> image and its critic.

The generator maps z in [-1, 1]^latent_dim (the prior GAN reversal clips to) through a dense
layer to 4x4, then x2 resize-convs (no checkerboard) with batch norm, to a tanh image of
4 * 2**num_upsamplings pixels a side. The critic has no batch norm (layer norm instead), so it
also serves WGAN-GP, whose gradient penalty needs per-sample gradients. The encoder (image -> z,
trained jointly with G so G covers real images and reversal starts near the answer) is the
critic's body with a tanh head into z's prior range.
"""

from __future__ import annotations

import tensorflow as tf


class DCGANGenerator(tf.keras.Model):
    def __init__(self, latent_dim: int = 64, image_size: int = 64, width: int = 32,
                 name: str = "dcgan_generator"):
        super().__init__(name=name)
        ups = (image_size // 4).bit_length() - 1
        if image_size < 8 or 4 * 2**ups != image_size:
            raise ValueError(f"image_size must be 4 * a power of 2 and >= 8, got {image_size}")
        self.latent_dim, self.image_size, self.width = latent_dim, image_size, width
        top = width * 2 ** (ups - 1)
        self.project = tf.keras.Sequential([
            tf.keras.layers.Dense(4 * 4 * top, use_bias=False),
            tf.keras.layers.Reshape([4, 4, top]),
            tf.keras.layers.BatchNormalization(), tf.keras.layers.ReLU()], name="project")
        self.blocks = [tf.keras.Sequential([
            tf.keras.layers.UpSampling2D(2, interpolation="nearest"),
            tf.keras.layers.Conv2D(max(width, top // 2**(i + 1)), 3, padding="same",
                                   use_bias=False),
            tf.keras.layers.BatchNormalization(), tf.keras.layers.ReLU()], name=f"up{i}")
            for i in range(ups)]
        self.to_image = tf.keras.layers.Conv2D(3, 3, padding="same", name="to_image")

    def call(self, z: tf.Tensor, training: bool = False) -> tf.Tensor:
        """z [B, latent_dim] -> images [B, S, S, 3] in [-1, 1]."""
        x = self.project(z, training=training)
        for block in self.blocks:
            x = block(x, training=training)
        return tf.tanh(self.to_image(x))

    def get_config(self):
        return {"latent_dim": self.latent_dim, "image_size": self.image_size,
                "width": self.width}


def _downsampling_body(image_size: int, width: int, name: str) -> tf.keras.Sequential:
    """Stride-2 4x4 convs (layer norm after the first) from image_size down to 4x4."""
    layers = []
    size, filters = image_size, width
    while size > 4:
        layers += [tf.keras.layers.Conv2D(filters, 4, strides=2, padding="same"),
                   tf.keras.layers.LayerNormalization(axis=[1, 2, 3]) if layers else
                   tf.keras.layers.Layer(), tf.keras.layers.LeakyReLU(0.2)]
        size, filters = size // 2, filters * 2
    return tf.keras.Sequential(layers, name=name)


class DCGANCritic(tf.keras.Model):
    def __init__(self, image_size: int = 64, width: int = 32, name: str = "dcgan_critic"):
        super().__init__(name=name)
        self.body = _downsampling_body(image_size, width, "body")
        self.head = tf.keras.Sequential([tf.keras.layers.Flatten(), tf.keras.layers.Dense(1)],
                                        name="head")

    def call(self, images: tf.Tensor) -> tf.Tensor:
        """images [B, S, S, 3] in [-1, 1] -> scores [B]."""
        return self.head(self.body(images))[:, 0]


class DCGANEncoder(tf.keras.Model):
    """images -> z in (-1, 1)^latent_dim (the generator's uniform prior), via tanh."""

    def __init__(self, latent_dim: int = 64, image_size: int = 64, width: int = 32,
                 name: str = "dcgan_encoder"):
        super().__init__(name=name)
        self.latent_dim, self.image_size, self.width = latent_dim, image_size, width
        self.body = _downsampling_body(image_size, width, "body")
        self.head = tf.keras.Sequential([tf.keras.layers.Flatten(),
                                         tf.keras.layers.Dense(latent_dim)], name="head")

    def call(self, images: tf.Tensor) -> tf.Tensor:
        """images [B, S, S, 3] in [-1, 1] -> z [B, latent_dim] in (-1, 1)."""
        return tf.tanh(self.head(self.body(images)))

    def get_config(self):
        return {"latent_dim": self.latent_dim, "image_size": self.image_size,
                "width": self.width}
