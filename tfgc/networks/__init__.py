"""The paper's three networks, each usable on its own."""

from tfgc.networks.discriminator import MultiScaleDiscriminator, PatchDiscriminator
from tfgc.networks.encoder import Encoder
from tfgc.networks.generator import Generator

__all__ = ["Encoder", "Generator", "MultiScaleDiscriminator", "PatchDiscriminator"]
