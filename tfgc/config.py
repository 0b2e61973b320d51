"""Default configuration: the paper's GC model and training setup (pix2pixHD where silent).

Experiment files in `configs/` start from `default_config()` and change what they need; every
field can be overridden on the command line, e.g. `--config.num_steps=1000`.
"""

from __future__ import annotations

import json

import ml_collections


def default_model_config() -> ml_collections.ConfigDict:
    m = ml_collections.ConfigDict()
    m.num_channels = 8  # C: bottleneck channels; bpp bound = C * log2(L) / 256
    m.centers = (-2.0, -1.0, 0.0, 1.0, 2.0)  # L = 5
    m.quantizer_temperature = 1.0  # sigma of the soft assignment used for gradients
    m.noise_channels = 0  # channels of N(0, 1) noise concatenated to the latents; 0 = off
    m.mode = "gc"  # gc | gc_dplus (label map fed to D in training) | sc (selective, Sec. 4.2)
    m.label_set = ""  # gc_dplus / sc: cityscapes | ade20k (the classes of the label maps)
    m.condition_channels = 0  # label classes K (one-hot channels); gc_dplus and sc need K > 0
    m.semantic_filters = (60, 120, 240, 480, 960)  # F (sc): c7s1-60, d120, d240, d480, d960
    m.width_multiplier = 1.0  # scales every filter count below
    m.encoder_filters = (60, 120, 240, 480, 960)  # c7s1-60, d120, d240, d480, d960
    m.generator_filters = 960  # c3s1-960 and R960
    m.num_residual_blocks = 9
    m.upsample_filters = (480, 240, 120, 60)  # u480, u240, u120, u60
    m.encoder_norm = "instance"  # instance | channel | batch | none
    m.generator_norm = "instance"  # norm inside the residual blocks
    m.generator_upsample_norm = "instance"  # norm of c3s1 head and uk layers
    m.upsampling = "transpose"  # transpose (paper) | resize_conv | subpixel
    m.padding = "reflect"  # reflect (paper) | symmetric | zero
    m.latent_init_std = 0.0  # >0: rescale E's last conv at step 0 to this latent std
    m.discriminator_scales = 3
    m.discriminator_filters = (64, 128, 256, 512)
    m.discriminator_norm = "instance"
    m.spectral_norm = False
    return m


def default_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.model = default_model_config()

    c.data = ml_collections.ConfigDict()
    c.data.train = ""  # folder or glob of PNG/JPEG (recursive); "" = samples bundled in tfgc
    c.data.layout = "images"  # images | cityscapes | ade20k (dataset roots with label maps)
    c.data.train_split = ""  # labelled layouts: "" = train (cityscapes) / training (ade20k)
    c.data.eval_split = ""  # "" = the training split
    c.data.preserve_mode = "ri"  # sc training masks: ri | rb | all_synthesised
    c.data.eval = ""  # "" = the training images
    c.data.crop_size = 256  # random crops; smaller images are upscaled to cover the crop
    c.data.eval_crop_size = 256  # center crops for eval; 0 = whole images padded to x16
    c.data.num_eval_images = 8
    c.data.on_corrupt = "skip"  # skip (count and warn) | fail
    c.data.cache = True  # keep decoded images in memory (small datasets)
    c.data.shuffle_buffer = 256

    c.num_steps = 100_000  # encoder/generator updates
    c.batch_size = 8  # global batch, split over replicas
    c.warmup_steps = 0  # distortion-only steps before the GAN terms switch on
    # Then D learns alone this many steps while E and G still train on distortion only: a fresh
    # D's first gradients shift colours (bench/colour_cast.py), so G meets a D that has learnt.
    c.d_warmup_steps = 0
    # Weight of G's GAN and feature-matching terms at num_steps: linear from 1 after the D
    # warm-up down to this (1 = constant, the paper).
    c.gan_weight_end = 1.0
    # Relative weights of the D scales (full resolution first, then 1/2, 1/4, ...) in G's GAN
    # and feature-matching terms, rescaled to average 1 so gan_weight_end and lambda_fm keep
    # their meaning; () = equal (the paper). D's own loss is unweighted (models/gc.py).
    c.d_scale_weights = ()
    c.d_steps = 1  # D updates per G update, all on the step's batch (see models/gc.py)
    c.gan_loss = "least_squares"  # least_squares (paper) | non_saturating | hinge | wgan_gp
    c.lambda_mse = 10.0
    c.lambda_fm = 10.0
    c.lambda_vgg = 0.0
    c.vgg_weights_path = ""  # local Keras VGG19 notop .h5; required when lambda_vgg > 0
    # MSE between lowpass_factor x lowpass_factor average-pooled image and reconstruction:
    # pins local mean colour, which the GAN terms may shift (bench/colour_cast.py).
    c.lambda_lowpass = 0.0
    c.lowpass_factor = 16
    # Weight of 1 - MS-SSIM (the evaluation's scales; 4 of 5 at 128-px crops) between the crops
    # and their reconstructions: a structure term beside MSE (bench/results/gan7_fidelity.md).
    c.lambda_ms_ssim = 0.0
    c.beta_rate = 0.0  # paper: 0, rate controlled by C and L only
    c.gradient_penalty_weight = 10.0
    c.ema_decay = 0.0  # >0: keep an EMA of G's weights for evaluation and export

    c.lr = 2e-4  # generator (and encoder) learning rate
    c.d_lr = 2e-4
    c.lr_schedule = "constant"  # constant | linear_decay | cosine
    c.lr_decay_start = 0.5  # fraction of num_steps after which decay starts
    c.adam_beta1 = 0.5
    c.adam_beta2 = 0.999

    c.distribution = "default"  # default | mirrored | multi_worker
    c.cpu_replicas = 1  # mirrored without GPUs: split the CPU into this many replicas
    c.mixed_precision = False
    c.jit_compile = False
    c.seed = 0
    # A training workdir or full tfgc SavedModel whose E and G (and EMA) start a new run; same
    # config.model required; D and optimizers start fresh. Ignored when resuming.
    c.init_from = ""
    # True: init_from may have another bottleneck (model.num_channels, model.centers); the
    # variables whose shapes depend on C (E's last conv, G's first layer) start fresh and are
    # named in one line. Off, any config.model difference is refused.
    c.init_from_new_bottleneck = False

    c.log_every = 100  # steps per Keras "epoch": logs, progress bar line, TensorBoard scalars
    c.checkpoint_every = 500
    c.sample_every = 1000  # sample PNGs and TensorBoard images
    c.eval_every = 1000
    c.keep_checkpoints = 3
    return c


MODES = ("gc", "gc_dplus", "sc")


def check_semantic(config: ml_collections.ConfigDict) -> None:
    """The one place that checks the semantic fields against each other and the data layout."""
    from tfgc.errors import ConfigError
    from tfgc.semantic.labels import LABEL_SETS
    from tfgc.semantic.masks import TRAIN_MODES

    m, data = config.model, config.data
    if m.mode not in MODES:
        raise ConfigError(f"model.mode must be one of {MODES}, got {m.mode!r}")
    layouts = ("images", *LABEL_SETS)
    if data.layout not in layouts:
        raise ConfigError(f"data.layout must be one of {layouts}, got {data.layout!r}")
    if m.mode == "gc":
        if m.condition_channels or m.label_set:
            raise ConfigError("model.condition_channels and model.label_set are for "
                              "model.mode=gc_dplus or sc")
        return
    if data.layout == "images":
        raise ConfigError(f"model.mode={m.mode} trains on label maps: set data.layout to one "
                          f"of {tuple(LABEL_SETS)} and data.train to the dataset root")
    if m.label_set != data.layout:
        raise ConfigError(f"model.label_set must name the classes of data.layout "
                          f"({data.layout!r}), got {m.label_set!r}")
    classes = LABEL_SETS[data.layout].num_classes
    if m.condition_channels != classes:
        raise ConfigError(f"model.condition_channels must be {classes} (the {data.layout} "
                          f"classes) for model.mode={m.mode}, got {m.condition_channels}")
    if m.mode == "sc" and data.preserve_mode not in TRAIN_MODES:
        raise ConfigError(f"data.preserve_mode must be one of {TRAIN_MODES}, got "
                          f"{data.preserve_mode!r}")


def to_json(config: ml_collections.ConfigDict) -> str:
    return json.dumps(config.to_dict(), indent=2, sort_keys=True, default=list)


def from_json(text: str) -> ml_collections.ConfigDict:
    base = default_config()
    base.update_from_flattened_dict(_flatten(json.loads(text)))
    return base


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = tuple(v) if isinstance(v, list) else v
    return out


def paper_gc_config(num_channels: int) -> ml_collections.ConfigDict:
    """The paper's GC model at full width (Appendix E) with C bottleneck channels.

    Instance norm, transposed-conv upsampling, least-squares GAN, lambda_mse = 10, feature
    matching 10. The paper also uses pix2pixHD's VGG loss (weight 10): set lambda_vgg and
    vgg_weights_path to enable it. Train data must be given with --config.data.train.
    """
    config = default_config()
    config.model.num_channels = num_channels
    config.data.crop_size = 256
    config.batch_size = 8
    config.num_steps = 150_000
    config.warmup_steps = 0
    return config


def paper_semantic_config(mode: str, num_channels: int, preserve_mode: str = "ri"
                          ) -> ml_collections.ConfigDict:
    """The paper's Cityscapes models at full width: GC(D+) or SC (Sec. 4.1-4.2, 6.2).

    19 Cityscapes train classes, one-hot. The paper trains on Cityscapes downscaled to
    1024x512; give that folder (Cityscapes layout) with --config.data.train. For SC,
    preserve_mode is RI (25% of instances) or RB (random box). The paper also uses the VGG
    loss (weight 10): set lambda_vgg and vgg_weights_path to enable it.
    """
    from tfgc.semantic.labels import label_set

    config = paper_gc_config(num_channels)
    config.model.mode = mode
    config.data.layout = config.model.label_set = "cityscapes"
    config.model.condition_channels = label_set("cityscapes").num_classes
    config.data.preserve_mode = preserve_mode
    return config


def apply_cpu_choices(model: ml_collections.ConfigDict) -> None:
    """The choices a small CPU-trained model needs (bench/cpu_config_choices.py): channel norm
    keeps global colour, resize-conv avoids the transposed-conv grid, and latents rescaled at
    step 0 spread over all centers (the probe's 'dead start')."""
    model.encoder_norm = "channel"
    model.generator_norm = "channel"
    model.generator_upsample_norm = "channel"
    model.upsampling = "resize_conv"
    model.latent_init_std = 1.0


def changed_settings(previous: dict, current: dict, defaults: dict,
                     prefix: str = "") -> dict[str, list]:
    """Dotted name -> [old, new] for every config field whose value differs; a field the
    previous config predates counts as its default (what that run trained with)."""
    out = {}
    for key in sorted(set(previous) | set(current)):
        old, new = previous.get(key, defaults.get(key)), current.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            out.update(changed_settings(old, new, defaults.get(key) or {}, f"{prefix}{key}."))
        elif old != new:
            out[prefix + key] = [old, new]
    return out
