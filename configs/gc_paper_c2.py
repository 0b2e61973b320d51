"""The paper's GC model with C=2 bottleneck channels (bpp bound 0.0181), at full width.

Architecture and losses as in Agustsson et al. 2019 (Appendix E, pix2pixHD global generator):
instance norm, transposed-conv upsampling, least-squares GAN, lambda_mse=10, lambda_fm=10.
Meant for a GPU; train data must be given: --config.data.train=/path/to/images.
"""

from tfgc.config import default_config


def get_config():
    config = default_config()
    config.model.num_channels = 2
    config.data.crop_size = 256
    config.batch_size = 8
    config.num_steps = 150_000
    config.warmup_steps = 0
    config.lambda_vgg = 0.0  # paper: 10 with pix2pixHD's VGG; set vgg_weights_path to enable
    return config
