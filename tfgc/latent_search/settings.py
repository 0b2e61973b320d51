"""Defaults of encoder-side latent optimisation (`compress --optimize`), as plain data: the
CLI reads them without importing TensorFlow."""

DEFAULT_LOSS = "mse+0.05*ms_ssim+0.2*bpp"
DEFAULT_LEARNING_RATE = 0.2
# `--optimize` without a number. Measured (bench/results/latent_optimisation): on Kodak with
# the bundled model a step costs ~0.76 CPU-s and 10 steps keep most of the gain of 20.
DEFAULT_STEPS = 10
# Early stopping: stop when 3 steps in a row beat the best loss by less than 0.1%.
PATIENCE, TOLERANCE = 3, 1e-3
