"""The paper's networks (E, G, D and SC's feature extractor F), each usable on its own."""

from tfgc.networks.codec_networks import CodecNetworks
from tfgc.networks.discriminator import MultiScaleDiscriminator, PatchDiscriminator
from tfgc.networks.encoder import Encoder
from tfgc.networks.generator import Generator
from tfgc.networks.semantic import SemanticFeatureExtractor

__all__ = ["CodecNetworks", "Encoder", "Generator", "MultiScaleDiscriminator",
           "PatchDiscriminator", "SemanticFeatureExtractor"]
