"""A CPU-sized GC model that trains out of the box on the sample photos bundled with tfgc.

Same code as the paper's model at 1/8 width with 3 residual blocks. Norm, upsampling and init
follow what the CPU probe found (measured again by bench/cpu_config_choices.py): channel norm
instead of instance norm, resize-conv instead of transposed conv, latents rescaled at step 0 to
spread over the centers.
"""

from tfgc.config import apply_cpu_choices, default_config


def get_config():
    config = default_config()
    m = config.model
    m.width_multiplier = 1 / 8
    m.num_residual_blocks = 3
    apply_cpu_choices(m)
    m.discriminator_scales = 2

    config.data.train = ""  # bundled samples
    config.data.crop_size = 128
    config.data.eval_crop_size = 128
    config.data.num_eval_images = 4
    config.batch_size = 4
    config.num_steps = 300
    config.warmup_steps = 150
    config.log_every = 25
    config.checkpoint_every = 100
    config.sample_every = 100
    config.eval_every = 100
    return config
