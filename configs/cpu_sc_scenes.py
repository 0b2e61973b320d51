"""A CPU-sized SC model on procedural street scenes (Cityscapes layout, 19 classes).

    python -m tfgc.semantic.scenes runs/scenes --num 200 --height 128 --width 256
    python train.py --config=configs/cpu_sc_scenes.py --workdir=runs/sc \\
        --config.data.train=runs/scenes

The tiny config's width (1/8) and CPU choices, C = 8, random-instance masks (RI).
"""

from tfgc.config import apply_cpu_choices, default_config
from tfgc.semantic.labels import label_set


def get_config():
    config = default_config()
    m = config.model
    m.mode = "sc"
    m.label_set = "cityscapes"
    m.condition_channels = label_set("cityscapes").num_classes
    m.num_channels = 8
    m.width_multiplier = 1 / 8
    m.num_residual_blocks = 3
    apply_cpu_choices(m)
    m.discriminator_scales = 2

    config.data.layout = "cityscapes"
    config.data.preserve_mode = "ri"
    config.data.crop_size = 128
    config.data.eval_crop_size = 128
    config.data.num_eval_images = 4
    config.batch_size = 4
    config.num_steps = 3000
    config.warmup_steps = 1500
    config.log_every = 50
    config.checkpoint_every = 250
    config.sample_every = 500
    config.eval_every = 500
    return config
