"""configs/cpu_gc_c8.py with the rate bottleneck of bench/results/cpu_capacity_rate.md: C=4
channels, L=13 centers -3..3 in steps of 0.5 (bound 0.058 bpp vs C=8 L=5's 0.073), which beat
C=8/L=5 at equal training FLOPs from scratch. Warm-start it from a C=8 model's body with

    python train.py --config=configs/cpu_gc_c4_l13.py --workdir=runs/c4 \\
        --config.data.train=/path/to/photos --config.init_from=tfgc/assets/model \\
        --config.init_from_new_bottleneck=True
"""

from configs import cpu_gc_c8


def get_config():
    config = cpu_gc_c8.get_config()
    config.model.num_channels = 4
    config.model.centers = tuple(c / 2 for c in range(-6, 7))
    return config
