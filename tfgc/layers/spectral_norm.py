"""Spectrally normalised convolution (Miyato et al., ICLR 2018), graph- and replica-safe.

Keras' `SpectralNormalization` wrapper tests a tensor with Python `if` (so it fails inside
`fit()`'s graph with OperatorNotAllowedInGraphError) and overwrites the wrapped kernel with
W / sigma on every training call. This layer keeps W as the trained variable and convolves with
W / sigma(W), sigma estimated by one power iteration per training call and differentiated through
as in the paper's reference code (u and v held constant).
"""

from __future__ import annotations

import tensorflow as tf


class SpectralNormConv2D(tf.keras.layers.Conv2D):
    """Conv2D whose kernel is divided by its largest singular value (of the kernel reshaped to
    [kh * kw * in, out]). The power-iteration vector `u` is updated only when training."""

    def build(self, input_shape):
        super().build(input_shape)
        self.u = self.add_weight(
            name="power_iteration_u", shape=(1, self.filters), dtype=tf.float32,
            initializer=tf.keras.initializers.TruncatedNormal(stddev=1.0), trainable=False,
            # Every replica computes the same u from the same weights; keep the first's.
            synchronization=tf.VariableSynchronization.ON_WRITE,
            aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
            experimental_autocast=False)  # stays float32 under mixed precision

    def normalized_kernel(self, training: bool = False) -> tf.Tensor:
        kernel = self.kernel
        w = tf.reshape(tf.cast(kernel, tf.float32), [-1, self.filters])
        v = tf.math.l2_normalize(tf.matmul(self.u, w, transpose_b=True))
        u = tf.math.l2_normalize(tf.matmul(v, w))
        u, v = tf.stop_gradient(u), tf.stop_gradient(v)
        sigma = tf.maximum(tf.squeeze(tf.matmul(tf.matmul(v, w), u, transpose_b=True)), 1e-12)
        if training:
            self.u.assign(u)
        return tf.cast(tf.cast(kernel, tf.float32) / sigma, self.compute_dtype)

    def call(self, inputs, training=None):
        outputs = self.convolution_op(inputs, self.normalized_kernel(bool(training)))
        if self.use_bias:
            outputs = tf.nn.bias_add(outputs, self.bias)
        return self.activation(outputs) if self.activation is not None else outputs
