"""tfgc: GAN-based extreme learned image compression in TensorFlow 2 / Keras."""

from tfgc.utils.logs import quiet_tensorflow_startup

quiet_tensorflow_startup()
