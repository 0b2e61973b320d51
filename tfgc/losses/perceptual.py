"""VGG19 perceptual loss (pix2pixHD weights) from a local weights file, never a download."""

from __future__ import annotations

import os

import tensorflow as tf

from tfgc.errors import ModelLoadError
from tfgc.utils.absl_app import check_eager_context

_LAYERS = ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1")
_WEIGHTS = (1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0)


class VGGLoss(tf.keras.layers.Layer):
    """Weighted L1 between VGG19 activations of the original and the reconstruction.

    `weights_path` is a Keras VGG19 (include_top=False) weights file, e.g. the
    `vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5` file obtained once by other means.
    """

    def __init__(self, weights_path: str, **kwargs):
        super().__init__(**kwargs)
        if not weights_path:
            raise ModelLoadError(
                "the VGG perceptual loss is on (lambda_vgg > 0) but no weights file is set: pass "
                "--config.vgg_weights_path=/path/to/vgg19_notop.h5 or set --config.lambda_vgg=0")
        if not os.path.isfile(weights_path):
            raise ModelLoadError(
                f"VGG19 weights file not found: {weights_path}. tfgc never downloads weights; "
                "copy a Keras VGG19 include_top=False .h5 file there or set --config.lambda_vgg=0")
        self._set_features(_load_vgg19_features(weights_path))

    @tf.__internal__.tracking.no_automatic_dependency_tracking
    def _set_features(self, features: tf.keras.Model) -> None:
        # Untracked: the fixed VGG19 comes from its file on every start, not from checkpoints
        # (it would add 80 MB to each one).
        self.features = features

    def call(self, original: tf.Tensor, reconstruction: tf.Tensor) -> tf.Tensor:
        """Both images in [-1, 1]."""
        def prepare(x):
            return tf.keras.applications.vgg19.preprocess_input((x + 1.0) * 127.5)
        real = self.features(prepare(original))
        fake = self.features(prepare(reconstruction))
        return tf.add_n([w * tf.reduce_mean(tf.abs(tf.stop_gradient(r) - f))
                         for w, r, f in zip(_WEIGHTS, real, fake)])


def _load_vgg19_features(weights_path: str) -> tf.keras.Model:
    check_eager_context()  # else Keras' functional API fails deep inside VGG19
    vgg = tf.keras.applications.VGG19(include_top=False, weights=None)
    try:
        vgg.load_weights(weights_path)
    except Exception as e:  # h5py/keras raise many types for a bad file
        raise ModelLoadError(f"cannot load VGG19 weights from {weights_path}: {e}") from None
    vgg.trainable = False
    return tf.keras.Model(vgg.input, [vgg.get_layer(n).output for n in _LAYERS])
