"""The bundled model: a CPU-trainable GC model at C=8 (bound 0.0726 bpp), trained on 2 cores.

The paper's architecture at 1/6 width with 6 residual blocks (3.3M parameters in E and G, so the
export stays well under 20 MB). Norm, upsampling and init as in configs/tiny.py (choices from
the CPU probe: channel norm keeps global colour, resize-conv avoids the transposed-conv grid,
latents rescaled at step 0 so all 5 centers are in use). Trained with

    python train.py --config=configs/cpu_gc_c8.py --workdir=runs/cpu_gc_c8 \
        --config.data.train=/path/to/photos

distortion-only first (warmup_steps), then the least-squares GAN with feature matching.
"""

from tfgc.config import apply_cpu_choices, default_config


def get_config():
    config = default_config()
    m = config.model
    m.num_channels = 8
    m.width_multiplier = 1 / 6
    m.num_residual_blocks = 6
    apply_cpu_choices(m)

    config.data.crop_size = 128
    config.data.eval_crop_size = 256
    config.data.num_eval_images = 8
    config.batch_size = 8
    config.num_steps = 40_000
    config.warmup_steps = 25_000
    config.lr = 2e-4
    config.d_lr = 2e-4
    config.ema_decay = 0.999
    config.log_every = 100
    config.checkpoint_every = 250
    config.sample_every = 1000
    config.eval_every = 1000
    config.keep_checkpoints = 3
    return config
