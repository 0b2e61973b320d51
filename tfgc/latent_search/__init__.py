"""Searching the input of a frozen generator for the image you want.

Shared by encoder-side latent optimisation of GC files (`tfgc.latent_search.gc`) and GAN
reversal (`tfgc.reversal`): image distances and an Adam loop that keeps the best iterate.
"""

from tfgc.latent_search.losses import LOSS_TERMS, ImageLoss, parse_loss
from tfgc.latent_search.search import LatentSearch, SearchResult, SearchSettings

__all__ = ["LOSS_TERMS", "ImageLoss", "LatentSearch", "SearchResult", "SearchSettings",
           "parse_loss"]
