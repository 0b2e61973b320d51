"""The networks and the GC model: shapes, quantizer, update isolation, learning."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tfgc.layers.quantizer import Quantizer
from tfgc.models.gc import GenerativeCompression
from tfgc.networks import Encoder, Generator, MultiScaleDiscriminator
from tfgc.training.trainer import build_model


@pytest.mark.parametrize("height,width", [(16, 16), (32, 48), (64, 64), (80, 112)])
def test_encoder_generator_shapes(height, width):
    encoder = Encoder(4, width_multiplier=1 / 16, norm="channel")
    generator = Generator(num_residual_blocks=1, width_multiplier=1 / 16, upsampling="subpixel",
                          padding="symmetric")
    latents = encoder(tf.zeros([2, height, width, 3]))
    assert latents.shape == (2, height // 16, width // 16, 4)
    images = generator(latents)
    assert images.shape == (2, height, width, 3)
    assert float(tf.reduce_max(tf.abs(images))) <= 1.0


@pytest.mark.parametrize("upsampling", ["transpose", "resize_conv", "subpixel"])
def test_generator_upsampling_choices(upsampling):
    generator = Generator(num_residual_blocks=1, width_multiplier=1 / 16, upsampling=upsampling)
    assert generator(tf.zeros([1, 3, 5, 2])).shape == (1, 48, 80, 3)


def test_generator_takes_noise_and_condition():
    generator = Generator(num_residual_blocks=1, width_multiplier=1 / 16)
    out = generator(tf.zeros([1, 4, 4, 2]), tf.zeros([1, 4, 4, 3]), tf.zeros([1, 4, 4, 5]))
    assert out.shape == (1, 64, 64, 3)


def test_discriminator_scales_and_features():
    d = MultiScaleDiscriminator(num_scales=3, width_multiplier=1 / 8, spectral_norm=True)
    outputs = d(tf.zeros([2, 64, 64, 3]), condition=tf.zeros([2, 64, 64, 4]))
    assert len(outputs) == 3
    for scale, features in enumerate(outputs):
        assert len(features) == 5  # 4 conv stages + logits
        assert features[-1].shape[-1] == 1
        # three stride-2 stages on an input downsampled `scale` times
        assert features[-1].shape[1] == 64 // 2 ** scale // 8


def test_quantizer_emits_only_centers_and_passes_gradients():
    centers = [-2.0, -1.0, 0.0, 1.0, 2.0]
    quantizer = Quantizer(centers, temperature=1.0)
    w = tf.Variable(tf.random.normal([2, 4, 4, 3], stddev=2.0, seed=1))
    with tf.GradientTape() as tape:
        quantized, symbols = quantizer(w)
        loss = tf.reduce_sum(quantized * tf.range(3, dtype=tf.float32))
    assert set(np.unique(quantized.numpy())) <= set(centers)
    np.testing.assert_array_equal(np.take(centers, symbols.numpy()), quantized.numpy())
    assert symbols.dtype == tf.int32
    assert symbols.numpy().min() >= 0 and symbols.numpy().max() <= 4
    grad = tape.gradient(loss, w).numpy()
    assert np.all(np.isfinite(grad)) and np.abs(grad).sum() > 0


def test_quantizer_rejects_bad_centers():
    with pytest.raises(ValueError):
        Quantizer([1.0, 0.0])


def _snapshot(variables):
    return [v.numpy().copy() for v in variables]


def _changed(before, variables):
    return [not np.array_equal(b, v.numpy()) for b, v in zip(before, variables)]


def test_updates_touch_only_their_own_networks(config):
    model, _ = build_model(config)
    batch = tf.random.uniform([2, 64, 64, 3], seed=3)
    g_vars = model.encoder.trainable_variables + model.generator.trainable_variables
    d_vars = model.discriminator.trainable_variables

    # Warm-up step: E and G change, D does not.
    g_before, d_before = _snapshot(g_vars), _snapshot(d_vars)
    model.train_step(batch)
    assert any(_changed(g_before, g_vars))
    assert not any(_changed(d_before, d_vars))

    # D update alone changes only D.
    model.gan_active = True
    g_before, d_before = _snapshot(g_vars), _snapshot(d_vars)
    model._discriminator_step(batch * 2 - 1, tf.zeros_like(batch), None)
    assert not any(_changed(g_before, g_vars))
    assert all(_changed(d_before, d_vars))


def test_distortion_only_training_lowers_mse(config):
    config.lr = 1e-3
    model, _ = build_model(config)
    batch = tf.random.uniform([2, 64, 64, 3], seed=4) * 0.3 + tf.linspace(0.0, 0.6, 64)[None, :,
                                                                                        None, None]
    step = tf.function(model.train_step)
    first = float(step(batch)["mse"])
    for _ in range(30):
        model.reset_metrics()
        last = float(step(batch)["mse"])
    assert last < 0.7 * first, (first, last)


def test_gan_losses_all_train(config):
    for loss in ("least_squares", "non_saturating", "hinge", "wgan_gp"):
        config.gan_loss = loss
        config.d_steps = 2 if loss == "wgan_gp" else 1
        model, _ = build_model(config)
        model.gan_active = True
        logs = model.train_step(tf.random.uniform([2, 64, 64, 3], seed=5))
        assert np.isfinite(float(logs["g_loss"])) and np.isfinite(float(logs["d_loss"]))
        assert int(model.d_optimizer.iterations) == config.d_steps
        if loss == "wgan_gp":
            assert "gradient_penalty" in logs


def test_d_scale_weights_weight_g_terms_per_scale_at_an_average_of_one():
    """(1, 3) over two scales is (0.5, 1.5): the scales' share changes, the total does not."""
    from tfgc.losses import gan

    fake = [tf.fill([1, 2, 2, 1], 0.0), tf.fill([1, 1, 1, 1], 2.0)]  # LSGAN terms 1 and 1
    assert float(gan.generator_loss("least_squares", fake)) == pytest.approx(2.0)
    fake[1] = tf.fill([1, 1, 1, 1], 3.0)  # terms 1 and 4
    assert float(gan.generator_loss("least_squares", fake, (1, 3))) == pytest.approx(6.5)
    real = [[tf.zeros([1, 2, 2, 1]), tf.zeros([1, 2, 2, 1])]] * 2
    fakes = [[tf.ones([1, 2, 2, 1]), tf.zeros([1, 2, 2, 1])],
             [tf.fill([1, 2, 2, 1], 3.0), tf.zeros([1, 2, 2, 1])]]  # L1 1 and 3 (logits out)
    assert float(gan.feature_matching_loss(real, fakes)) == pytest.approx(2.0)
    assert float(gan.feature_matching_loss(real, fakes, (0, 2))) == pytest.approx(3.0)


def test_test_step_reports_rates_and_quality(config):
    model, _ = build_model(config)
    logs = model.test_step(tf.random.uniform([2, 64, 64, 3], seed=6))
    assert set(logs) >= {"psnr", "ms_ssim", "bpp_bound", "entropy_bpp"}
    bound = config.model.num_channels * np.log2(5) / 256
    assert float(logs["bpp_bound"]) == pytest.approx(bound)
    assert 0 <= float(logs["entropy_bpp"]) <= bound + 1e-6


def test_analysis_synthesis_round_trip_shapes(config):
    model = GenerativeCompression(config.model)
    model.build_all(64)
    symbols = model.analysis(tf.zeros([1, 48, 80, 3]))
    assert symbols.shape == (1, 3, 5, config.model.num_channels)
    images = model.synthesis(symbols)
    assert images.shape == (1, 48, 80, 3)


def test_noise_is_reproducible_from_seed(config):
    from tfgc.layers.noise import latent_noise

    latents = tf.zeros([1, 3, 7, 2])
    a = latent_noise(latents, 4, tf.constant(123, tf.uint32))
    b = latent_noise(latents, 4, tf.constant(123, tf.uint32))
    c = latent_noise(latents, 4, tf.constant(124, tf.uint32))
    assert a.shape == (1, 3, 7, 4)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert not np.array_equal(a.numpy(), c.numpy())
