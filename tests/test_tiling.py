"""Tiled encode/decode: the same rows as the whole image, with bounded memory."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tfgc.networks import Encoder, Generator, tiling

# Different tile shapes run different conv kernels, so floats may differ in the last bits
# (measured: <= 2e-6 on images in [-1, 1]); a missing row of context shows up as ~1e-1.
FLOAT_ROUNDING = 1e-5


def _generator(upsampling: str, padding: str, norm: str = "channel") -> Generator:
    return Generator(filters=16, num_residual_blocks=2, upsample_filters=(8, 8, 4, 4),
                     norm=norm, upsample_norm=norm, upsampling=upsampling, padding=padding)


def _row_tiles(rows: int, per_tile: int, halo: int, out_scale: int = 1) -> tiling.RowTiles:
    return tiling.RowTiles(tf.constant(rows), tf.constant(per_tile), halo, out_scale)


def test_row_tiles_reassemble_rows_in_the_graph_loop_and_one_by_one():
    x = tf.reshape(tf.range(7 * 2 * 3, dtype=tf.float32), [1, 7, 2, 3])
    upsample = lambda first, last: tf.repeat(x[:, first:last], 4, axis=1)  # noqa: E731
    expected = tf.repeat(x, 4, axis=1)[0].numpy()
    for per_tile in (1, 2, 3, 7, 9):
        tiles = _row_tiles(7, per_tile, 2, out_scale=4)
        np.testing.assert_array_equal(tiles.map(upsample, tf.float32).numpy(), expected)
        one_by_one = [tiles.tile(upsample, i) for i in range(int(tiles.count()))]
        np.testing.assert_array_equal(tf.concat(one_by_one, 0).numpy(), expected)


def test_tile_rows_fit_the_budget():
    assert int(tiling.tile_rows(100, 10, 3, tile_positions=160)) == 10
    assert int(tiling.tile_rows(5, 10, 3, tile_positions=1000)) == 5  # never more than rows
    assert int(tiling.tile_rows(100, 4096, 3, tile_positions=160)) == 1  # at least one row


@pytest.mark.parametrize("upsampling,padding", [("resize_conv", "reflect"),
                                                ("transpose", "zero"), ("subpixel", "symmetric")])
def test_generator_tiles_equal_the_whole_image(upsampling, padding):
    generator = _generator(upsampling, padding)
    latents = tf.random.stateless_normal([1, 13, 7, 4], seed=[1, 2])
    noise = tf.random.stateless_normal([1, 13, 7, 2], seed=[3, 4])
    whole = generator(latents, noise)[0].numpy()
    tiles = tf.function(lambda lat, n: generator.images_in_tiles(
        lat, n, tile_positions=7 * 9))(latents, noise).numpy()  # 13 rows: 4 tiles of <= 3
    assert tiles.shape == whole.shape == (208, 112, 3)
    assert np.abs(tiles - whole).max() <= FLOAT_ROUNDING
    # The halo is what makes it exact: without context rows the seams are visibly wrong.
    features = generator.trunk(latents, noise)
    short = _row_tiles(13, 3, 0, out_scale=16).map(
        lambda first, last: generator.upsample(features[:, first:last]), tf.float32)
    assert np.abs(short.numpy() - whole).max() > 100 * FLOAT_ROUNDING


def test_encoder_tiles_equal_the_whole_image():
    encoder = Encoder(4, filters=(8, 8, 8, 8, 8), norm="channel")
    images = tf.random.stateless_uniform([1, 16 * 11, 16 * 5, 3], seed=[5, 6], minval=-1)
    whole = encoder(images)[0].numpy()
    tiles = tf.function(lambda x: encoder.latents_in_tiles(x, tile_positions=5 * 8))(images)
    assert np.abs(tiles.numpy() - whole).max() <= FLOAT_ROUNDING
    short = _row_tiles(11, 2, 0).map(
        lambda first, last: encoder(images[:, 16 * first:16 * last]), tf.float32)
    assert np.abs(short.numpy() - whole).max() > 100 * FLOAT_ROUNDING


def test_instance_norm_is_not_tiled():
    """Instance norm needs whole-image statistics: such networks run on the whole image."""
    generator = _generator("transpose", "reflect", norm="instance")
    latents = tf.random.stateless_normal([1, 9, 5, 4], seed=[7, 8])
    tiles = generator.images_in_tiles(latents, tile_positions=5 * 7)
    np.testing.assert_array_equal(tiles.numpy(), generator(latents)[0].numpy())
    encoder = Encoder(4, filters=(8, 8, 8, 8, 8), norm="instance")
    images = tf.random.stateless_uniform([1, 16 * 9, 16 * 5, 3], seed=[9, 9], minval=-1)
    np.testing.assert_array_equal(encoder.latents_in_tiles(images, 5 * 7).numpy(),
                                  encoder(images)[0].numpy())
    assert not tiling.tileable("channel", "instance") and tiling.tileable("channel", "none")


def test_codec_module_tiles_give_the_untiled_file_and_pixels(codec):
    """Through the codec graphs (what the API and the SavedModels run): tiles of one latent
    row give the same file, and pixels within one level, as the whole image at once; the
    Python codec, driving the same tiles one call at a time (progress), gives exactly the
    single-call graphs' file and pixels, and reports each tile of every pass."""
    from tests.conftest import photo
    from tfgc.codec import Codec
    from tfgc.export.modules import make_module
    from tfgc.networks import CodecNetworks

    trained = codec.module.networks

    def module(tile_positions: int):
        networks = CodecNetworks(trained.model_config, trained.encoder, trained.quantizer,
                                 trained.generator, trained.semantic_features)
        networks.tile_positions = tile_positions
        return make_module(networks, None, (codec.fingerprint, codec.decoder_fingerprint))

    pixels = photo(100, 150, seed=4)  # latent 7 x 10
    image, seed, limit = tf.constant(pixels), tf.constant(3, tf.int64), tf.constant(10**6,
                                                                                    tf.int64)
    whole, tiled = module(1 << 40), module(10)  # 10 positions: one latent row per tile
    data = whole.compress_one(image, seed)
    assert tiled.compress_one(image, seed).numpy() == data.numpy()
    expected = whole.decompress_one(data, limit).numpy().astype(int)
    got = tiled.decompress_one(data, limit).numpy()
    assert got.shape == expected.shape == (100, 150, 3)
    assert np.abs(got - expected).max() <= 1 and (got != expected).mean() < 1e-3

    # compress reports the encoder's 7 tiles, then the generator's 7 (the colour offset).
    driven, calls = Codec(tiled, "tiled"), []
    file = driven.compress_with_stats(pixels, 3, tile_progress=lambda *c: calls.append(c)).data
    assert file == data.numpy() and calls == [(i, 14) for i in range(1, 15)]
    assert driven.encode_passes() == 2 and driven.encode_passes(colour_offset=False) == 1
    calls.clear()
    driven.compress_with_stats(pixels, 3, tile_progress=lambda *c: calls.append(c),
                               colour_offset=False)
    assert calls == [(i, 7) for i in range(1, 8)]
    calls.clear()
    np.testing.assert_array_equal(
        driven.decompress(file, tile_progress=lambda *c: calls.append(c)), got)
    assert calls == [(i, 7) for i in range(1, 8)]


def test_a_huge_budget_is_one_tile():
    assert int(tiling.tile_rows(100, 10, 3, tile_positions=1 << 40)) == 100


def test_semantic_features_tiles_equal_the_whole_image():
    """SC's F in tiles of latent rows (from train ids, one tile's one-hot map at a time)."""
    from tfgc.networks.semantic import SemanticFeatureExtractor, one_hot_labels

    extractor = SemanticFeatureExtractor(filters=(8, 8, 8, 8, 8), norm="channel")
    train_ids = tf.random.stateless_uniform([16 * 11, 16 * 5], seed=[3, 1], maxval=7,
                                            dtype=tf.int32)
    train_ids = tf.where(train_ids == 6, 255, train_ids)  # 255: ignored, all zeros
    whole = extractor(one_hot_labels(train_ids, 6)[tf.newaxis]).numpy()
    tiles = tf.function(lambda ids: extractor.features_in_tiles(ids, 6, tile_positions=5 * 5))(
        train_ids)  # 11 rows, halo 2: tiles of one row
    assert tiles.shape == whole.shape == (1, 11, 5, 8)
    assert np.abs(tiles.numpy() - whole).max() <= FLOAT_ROUNDING
    short = _row_tiles(11, 1, extractor.tile_halo - 1).map(
        lambda first, last: extractor(one_hot_labels(train_ids[16 * first:16 * last], 6)[None]),
        tf.float32)
    assert np.abs(short.numpy() - whole[0]).max() > 100 * FLOAT_ROUNDING
