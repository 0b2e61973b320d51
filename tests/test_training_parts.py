"""The pieces behind the training options: XLA-friendly upsampling, spectral norm, WGAN-GP,
the soft rate term, config validation and stale checkpoint temps."""

from __future__ import annotations

import os

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import tiny_config
from tfgc.errors import ConfigError
from tfgc.layers.blocks import NearestUpsample2x
from tfgc.layers.spectral_norm import SpectralNormConv2D
from tfgc.losses import gan
from tfgc.training.checkpoints import (
    WORKER_TEMP,
    CheckpointWriter,
    remove_stale_temps,
    writer_lock,
)
from tfgc.training.trainer import build_model
from tfgc.training.validation import validate_config


def test_nearest_upsampling_equals_resize_values_and_gradients():
    x = tf.random.normal([2, 5, 7, 3], seed=1)
    weights = tf.random.normal([2, 10, 14, 3], seed=2)  # a generic downstream loss
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        old = tf.keras.layers.UpSampling2D(2, interpolation="nearest")(x)
        new = NearestUpsample2x()(x)
        old_loss, new_loss = tf.reduce_sum(old * weights), tf.reduce_sum(new * weights)
    np.testing.assert_array_equal(new.numpy(), old.numpy())
    np.testing.assert_allclose(tape.gradient(new_loss, x).numpy(),
                               tape.gradient(old_loss, x).numpy(), rtol=1e-6, atol=1e-6)


def test_nearest_upsampling_gradient_compiles_with_xla_on_cpu():
    layer = NearestUpsample2x()

    @tf.function(jit_compile=True)
    def grad(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.reduce_sum(tf.square(layer(x)))
        return tape.gradient(y, x)

    x = tf.random.normal([1, 4, 4, 2], seed=3)
    np.testing.assert_allclose(grad(x).numpy(), 8.0 * x.numpy(), rtol=1e-5)


def test_spectral_norm_conv_has_unit_spectral_norm_after_power_iterations():
    tf.keras.utils.set_random_seed(0)  # the kernel and u: not whatever earlier tests left
    layer = SpectralNormConv2D(6, 4, padding="same")
    layer(tf.zeros([1, 8, 8, 3]))
    layer.kernel.assign(layer.kernel * 50.0)
    for _ in range(100):  # power iteration converges on a fixed kernel
        kernel = layer.normalized_kernel(training=True)
    singular_values = np.linalg.svd(kernel.numpy().reshape(-1, 6), compute_uv=False)
    assert singular_values[0] == pytest.approx(1.0, rel=1e-3)
    # Inference does not advance the power iteration.
    u = layer.u.numpy().copy()
    layer(tf.ones([1, 8, 8, 3]), training=False)
    np.testing.assert_array_equal(layer.u.numpy(), u)


def test_spectral_norm_discriminator_trains_in_a_graph(config):
    config.model.spectral_norm = True
    model, _ = build_model(config)
    model.gan_active = True
    u = [v for v in model.discriminator.variables if "power_iteration_u" in v.name]
    assert u
    before = [v.numpy().copy() for v in u]
    logs = tf.function(model.train_step)(tf.random.uniform([2, 64, 64, 3], seed=5))
    assert np.isfinite(float(logs["d_loss"]))
    assert all(not np.array_equal(b, v.numpy()) for b, v in zip(before, u))


def _linear_critic(weights: tf.Tensor):
    """A 1x1-conv critic with one scale: per-pixel logits w . x."""
    def logits(images):
        return [tf.reduce_sum(images * weights, axis=-1, keepdims=True)]
    return logits


@pytest.mark.parametrize("size", [8, 32])
def test_gradient_penalty_matches_the_closed_form_at_any_number_of_patches(size):
    # D(x) = mean over P pixels of w . x has gradient w / P at every pixel, so its per-sample
    # norm is ||w|| / sqrt(P) whatever the sample: the penalty is (||w|| / sqrt(P) - 1)^2.
    w = tf.constant([3.0, -4.0, 12.0])  # ||w|| = 13
    real = tf.random.uniform([3, size, size, 3], seed=1)
    fake = tf.random.uniform([3, size, size, 3], seed=2)
    penalty = float(gan.gradient_penalty(_linear_critic(w), real, fake))
    assert penalty == pytest.approx((13.0 / size - 1.0) ** 2, rel=1e-4)


def _sum_of_patches_penalty(critic_logits, real, fake):
    """The old definition: the gradient of the sum of every patch logit."""
    alpha = tf.random.uniform([tf.shape(real)[0], 1, 1, 1])
    interpolated = real + alpha * (fake - real)
    with tf.GradientTape() as tape:
        tape.watch(interpolated)
        score = tf.add_n([tf.reduce_sum(t) for t in critic_logits(interpolated)])
    norms = tf.norm(tf.reshape(tape.gradient(score, interpolated), [2, -1]), axis=1)
    return float(tf.reduce_mean(tf.square(norms - 1.0)))


def test_gradient_penalty_does_not_grow_with_the_number_of_patches(config):
    tf.keras.utils.set_random_seed(0)  # the weights and inputs, whichever tests ran before
    model, _ = build_model(config)

    def logits(images):
        return [scale[-1] for scale in model.discriminator(images, None, training=True)]

    new, old = {}, {}
    for size in (32, 128):  # 16x the patches
        real = tf.image.resize(tf.random.uniform([2, 32, 32, 3], seed=7), [size, size]) * 2 - 1
        fake = tf.image.resize(tf.random.uniform([2, 32, 32, 3], seed=8), [size, size]) * 2 - 1
        new[size] = float(gan.gradient_penalty(logits, real, fake))
        old[size] = _sum_of_patches_penalty(logits, real, fake)
    # Averaging over patches shrinks each scale's gradient norm as patches are added, so each
    # scale's (norm - 1)^2 stays below 1; summing over patches made it grow with their number.
    num_scales = config.model.discriminator_scales
    assert all(0 < p <= num_scales for p in new.values()), new
    assert old[128] > 4 * old[32] and old[128] > 10 * new[128], (old, new)


def _soft_rate(model, batch):
    latents = model.encoder(batch * 2 - 1, training=True)
    counts = tf.reduce_sum(model.quantizer.soft_assignment(latents), [0, 1, 2])
    from tfgc.models.gc import _entropy_bpp

    return float(_entropy_bpp(counts, model.downsampling_factor ** 2))


@pytest.mark.parametrize("beta_rate", [0.0, 1.0])
def test_beta_rate_lowers_the_soft_rate(beta_rate):
    # With every distortion term off, the soft-entropy term is the whole E loss: beta > 0 must
    # drive the rate down and beta = 0 must leave E untouched.
    config = tiny_config()
    config.lambda_mse = 0.0
    config.beta_rate = beta_rate
    config.lr = 3e-3
    model, _ = build_model(config)
    batch = tf.random.uniform([2, 64, 64, 3], seed=11)
    model.encoder.rescale_output(30.0)  # spread latents over the centers, as latent_init does
    encoder_before = [v.numpy().copy() for v in model.encoder.trainable_variables]
    before = _soft_rate(model, batch)
    step = tf.function(model.train_step)
    for _ in range(15):
        logs = step(batch)
    after = _soft_rate(model, batch)
    if beta_rate:
        assert "rate_bpp" in logs
        assert after < 0.9 * before, (before, after)
    else:
        assert "rate_bpp" not in logs
        for b, v in zip(encoder_before, model.encoder.trainable_variables):
            np.testing.assert_array_equal(b, v.numpy())


@pytest.mark.parametrize("field,value,message", [
    ("model.condition_channels", 4, "model.mode=gc_dplus or sc"),
    ("model.encoder_norm", "layer", "model.encoder_norm='layer' is not an option"),
    ("model.discriminator_norm", "group", "model.discriminator_norm"),
    ("model.upsampling", "bilinear", "model.upsampling"),
    ("model.padding", "wrap", "model.padding"),
    ("model.centers", (0.0, 1.0, 1.0), "strictly increasing"),
    ("model.centers", (0.0,), "centers has 1"),
    ("model.num_channels", 0, "model.num_channels"),
    ("model.upsample_filters", (480, 240, 120), "upsampling stages"),
    ("model.quantizer_temperature", 0.0, "quantizer_temperature"),
    ("data.crop_size", 72, "multiple of 16"),
    ("data.eval_crop_size", 40, "multiple of 16"),
    ("data.on_corrupt", "maybe", "data.on_corrupt"),
    ("gan_loss", "wasserstein", "gan_loss='wasserstein'"),
    ("lr_schedule", "step", "lr_schedule"),
    ("distribution", "tpu", "distribution"),
    ("d_steps", 0, "d_steps"),
    ("d_warmup_steps", -1, "d_warmup_steps"),
    ("gan_weight_end", -0.5, "gan_weight_end"),
    ("ema_decay", 1.0, "ema_decay"),
    ("beta_rate", -1.0, "beta_rate"),
    ("batch_size", 0, "batch_size"),
    ("cpu_replicas", 2, "only applies to distribution=mirrored"),
    ("log_every", 0, "log_every"),
    ("lambda_ms_ssim", -1.0, "lambda_ms_ssim"),
    ("d_scale_weights", (1.0,), "has 1 weights but D has model.discriminator_scales=2"),
    ("d_scale_weights", (0.0, -1.0), "d_scale_weights=(0.0, -1.0) must be >= 0"),
    ("d_scale_weights", (0.0, 0.0), "not all 0"),
])
def test_validate_config_refuses_what_training_cannot_honour(field, value, message):
    config = tiny_config()
    config.update_from_flattened_dict({field: value})
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        validate_config(config)


def test_validate_config_refuses_wgan_gp_with_a_batch_norm_critic():
    config = tiny_config()
    config.gan_loss = "wgan_gp"
    config.model.discriminator_norm = "batch"
    with pytest.raises(ConfigError, match="batch norm"):
        validate_config(config)


def test_shipped_configs_validate():
    import importlib.util

    root = os.path.join(os.path.dirname(os.path.dirname(__file__)), "configs")
    for name in sorted(os.listdir(root)):
        if name.endswith(".py") and name != "__init__.py":
            spec = importlib.util.spec_from_file_location("cfg", os.path.join(root, name))
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            validate_config(module.get_config())


def test_writer_lock_refuses_a_second_live_writer(tmp_path):
    directory = str(tmp_path / "checkpoints")
    with writer_lock(directory), pytest.raises(ConfigError, match=f"pid {os.getpid()}"), \
            writer_lock(directory):
        pass
    with writer_lock(directory):  # released on exit
        pass


def test_stale_temps_are_removed_only_by_the_lock_holder(tmp_path, capsys):
    directory = tmp_path / "checkpoints"
    for name in ("ckpt-5_temp", "ckpt-7_temp", WORKER_TEMP.format(1), WORKER_TEMP.format(2)):
        (directory / name).mkdir(parents=True)
        (directory / name / "part-00000").write_bytes(b"x")
    (directory / "ckpt-4.index").write_bytes(b"kept")
    checkpoint = tf.train.Checkpoint(v=tf.Variable(1.0))

    # A non-chief worker only clears its own temp dir, and keeps nothing after a save.
    worker = CheckpointWriter(checkpoint, str(directory), 3, chief=False, task_id=2)
    assert not (directory / WORKER_TEMP.format(2)).exists()
    assert (directory / "ckpt-5_temp").exists()
    worker.save(9)
    assert not (directory / WORKER_TEMP.format(2)).exists()
    assert worker.latest_checkpoint is None  # the chief's series, not the worker's copy

    with writer_lock(str(directory)):
        CheckpointWriter(checkpoint, str(directory), 3, chief=True)
    assert sorted(os.listdir(directory)) == [".writer.lock", "ckpt-4.index"]
    err = capsys.readouterr().err
    assert "removed 3 stale checkpoint temp dir(s)" in err and "ckpt-7_temp" in err
    assert remove_stale_temps(str(directory), ("*_temp",)) == []


@pytest.mark.parametrize("height,width", [(16, 32), (48, 48), (176, 192)])
def test_ms_ssim_of_whole_eval_images_fits_scales_at_run_time(height, width):
    # data.eval_crop_size=0 evaluates whole images (unknown H, W when traced); small ones used
    # to fail with all 5 scales ("Computed output size would be negative").
    from tfgc.metrics import ms_ssim

    dynamic = tf.function(ms_ssim, input_signature=[tf.TensorSpec([1, None, None, 3])] * 2)
    a = tf.random.uniform([1, height, width, 3], seed=1)
    b = tf.clip_by_value(a + tf.random.normal(a.shape, stddev=0.05, seed=2), 0, 1)
    np.testing.assert_allclose(dynamic(a, b).numpy(), ms_ssim(a, b).numpy(), rtol=1e-5)


def test_gan_weight_falls_linearly_from_the_first_gan_step_to_gan_weight_end():
    from tfgc.training.schedules import gan_weight_schedule

    assert gan_weight_schedule(10, 20, 1.0) is None  # the default: constant, no extra op
    weight = gan_weight_schedule(10, 20, 0.25)
    values = [float(weight(step)) for step in (0, 10, 15, 20, 30)]
    np.testing.assert_allclose(values, [1.0, 1.0, 0.625, 0.25, 0.25])


def test_lowpass_mse_costs_a_colour_shift_and_not_texture_inside_its_squares():
    from tfgc.losses.distortion import lowpass_mse

    x = tf.random.uniform([2, 32, 48, 3], -0.5, 0.5, seed=3)
    shift = tf.constant([0.1, -0.2, 0.0])
    np.testing.assert_allclose(lowpass_mse(x, x + shift, 8).numpy(),
                               np.mean(np.square(shift.numpy())), rtol=1e-5)
    checkerboard = 0.3 * (-1.0) ** (np.add.outer(np.arange(32), np.arange(48)) % 2)
    texture = x + tf.constant(checkerboard[None, :, :, None], tf.float32)
    assert float(tf.reduce_mean(tf.square(texture - x))) > 0.05  # per-pixel MSE sees it
    assert float(lowpass_mse(x, texture, 8)) < 1e-10
    assert float(lowpass_mse(x, texture, 1)) > 0.05  # factor 1 is plain MSE


def test_ms_ssim_distortion_is_one_minus_the_evaluations_ms_ssim_with_finite_gradients():
    from tfgc.losses.distortion import ms_ssim_distortion
    from tfgc.metrics import ms_ssim

    x = tf.random.uniform([2, 128, 128, 3], -1.0, 1.0, seed=4)  # 128 px: 4 scales
    assert abs(float(ms_ssim_distortion(x, x))) < 1e-5
    blurred = tf.nn.avg_pool2d(x, 3, 1, "SAME")
    expected = 1 - float(tf.reduce_mean(ms_ssim((x + 1) / 2, (blurred + 1) / 2)))
    np.testing.assert_allclose(float(ms_ssim_distortion(x, blurred)), expected, rtol=1e-4)
    # An inverted reconstruction drives contrast-structure below 0, where the powers of
    # tf.image.ssim_multiscale have NaN gradients.
    for x_hat in (blurred, -x):
        with tf.GradientTape() as tape:
            tape.watch(x_hat)
            loss = ms_ssim_distortion(x, x_hat)
        assert 0.05 < float(loss) <= 1.0
        assert np.all(np.isfinite(tape.gradient(loss, x_hat).numpy()))


def test_validate_config_keeps_ms_ssim_to_gc_modes():
    config = tiny_config()
    config.lambda_ms_ssim = 1.0
    validate_config(config)
    config.model.mode, config.model.label_set = "sc", "cityscapes"
    config.model.condition_channels, config.data.layout = 19, "cityscapes"
    with pytest.raises(ConfigError, match=r"lambda_ms_ssim is for model\.mode=gc"):
        validate_config(config)


@pytest.mark.parametrize("cache", [True, False])
def test_a_resumed_stream_continues_and_without_cache_reads_no_skipped_file(
        image_folder, monkeypatch, cache):
    from tfgc.data import pipeline

    reads = []
    decode = pipeline._decode

    def counted(path):
        count = tf.py_function(lambda: reads.append(1) or 0, [], tf.int32)
        with tf.control_dependencies([count]):
            return tf.identity(decode(path))

    monkeypatch.setattr(pipeline, "_decode", counted)
    files = pipeline.find_images(str(image_folder))
    start, batch = 40, 2

    def first_batches(start_step: int, n: int) -> list[np.ndarray]:
        ds = pipeline.train_dataset(files, 32, batch, seed=3, cache=cache, start_step=start_step)
        return [b.numpy() for b in ds.take(n)]

    whole = first_batches(0, start + 1)
    reads.clear()
    resumed = first_batches(start, 1)
    np.testing.assert_array_equal(resumed[0], whole[start])
    if not cache:  # skipping 80 files by reading them takes 80+ decodes; prefetch reads a few
        assert len(reads) < start * batch // 2, len(reads)



def test_a_resume_does_not_report_fields_newer_than_the_run_as_changed():
    """A workdir written before a config field existed trained with its default: resuming it
    with that default is no change; setting the field to something else is."""
    import json

    from tfgc.config import changed_settings, default_config, to_json

    current = json.loads(to_json(tiny_config()))
    defaults = json.loads(to_json(default_config()))
    older = json.loads(to_json(tiny_config()))
    del older["init_from_new_bottleneck"], older["model"]["quantizer_temperature"]
    assert current["model"]["quantizer_temperature"] == defaults["model"]["quantizer_temperature"]
    assert changed_settings(older, current, defaults) == {}
    current["init_from_new_bottleneck"] = True
    current["model"]["quantizer_temperature"] = 0.5
    assert changed_settings(older, current, defaults) == {
        "init_from_new_bottleneck": [False, True],
        "model.quantizer_temperature": [defaults["model"]["quantizer_temperature"], 0.5]}
