"""Which table codes each symbol: the context index, in TF and in numpy.

A context is the channel plus the already-decoded neighbours a structure uses, each neighbour
being a symbol 0..L-1 or L ("none", past the row's left edge or before channel 0):

    index = c, then for each used neighbour in the order left, prev, diag:
        index = index * (L + 1) + neighbour

left = (y, x-1, c), prev = (y, x, c-1), diag = (y, x-1, c-1). None of them leaves the row, so
every latent row decodes on its own and all rows decode in parallel.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfgc.coding.format import STRUCTURES

NEIGHBOURS = ("left", "prev", "diag")
# uses[structure] = (left, prev, diag) flags, so a structure read from a file can be applied.
STRUCTURE_USES = [[n in STRUCTURES[s] for n in NEIGHBOURS] for s in sorted(STRUCTURES)]


def neighbours_np(symbols: np.ndarray, num_centers: int) -> dict[str, np.ndarray]:
    none = num_centers
    left = np.full_like(symbols, none)
    left[:, 1:] = symbols[:, :-1]
    prev = np.full_like(symbols, none)
    prev[..., 1:] = symbols[..., :-1]
    diag = np.full_like(symbols, none)
    diag[:, 1:, 1:] = symbols[:, :-1, :-1]
    return {"left": left, "prev": prev, "diag": diag}


def context_index_np(symbols: np.ndarray, num_centers: int, structure: int) -> np.ndarray:
    """Reference implementation of `context_index` (int64 [h, w, C])."""
    symbols = np.asarray(symbols, np.int64)
    nbs = neighbours_np(symbols, num_centers)
    index = np.broadcast_to(np.arange(symbols.shape[2], dtype=np.int64), symbols.shape).copy()
    for name in STRUCTURES[structure]:
        index = index * (num_centers + 1) + nbs[name]
    return index


def _neighbours(symbols: tf.Tensor, none: tf.Tensor) -> tuple[tf.Tensor, ...]:
    """(left, prev, diag) of every symbol of [h, w, C], `none` outside the row."""
    shape = tf.shape(symbols)
    left = tf.concat([tf.fill([shape[0], 1, shape[2]], none), symbols[:, :-1]], axis=1)
    prev = tf.concat([tf.fill([shape[0], shape[1], 1], none), symbols[:, :, :-1]], axis=2)
    diag = tf.concat([tf.fill([shape[0], 1, shape[2]], none), prev[:, :-1]], axis=1)
    return left, prev, diag


def context_index(symbols: tf.Tensor, num_centers: int, structure: int) -> tf.Tensor:
    """Context of every symbol of int32 [h, w, C] for a static structure: int32 [h, w, C]."""
    none = tf.constant(num_centers, symbols.dtype)
    nbs = dict(zip(NEIGHBOURS, _neighbours(symbols, none)))
    index = tf.broadcast_to(tf.range(tf.shape(symbols)[2], dtype=symbols.dtype),
                            tf.shape(symbols))
    for name in STRUCTURES[structure]:
        index = index * (num_centers + 1) + nbs[name]
    return index


def runtime_context_index(symbols: tf.Tensor, num_centers: tf.Tensor, uses: tf.Tensor
                          ) -> tf.Tensor:
    """`context_index` for a structure known only at run time (`uses` = structure_uses)."""
    none = tf.cast(num_centers, symbols.dtype)
    channel = tf.broadcast_to(tf.range(tf.shape(symbols)[2], dtype=symbols.dtype),
                              tf.shape(symbols))
    return step_context(channel, *_neighbours(symbols, none), none, uses)


def structure_uses(structure: tf.Tensor) -> tf.Tensor:
    """bool [3]: which of (left, prev, diag) a (possibly runtime) structure uses."""
    return tf.gather(tf.constant(STRUCTURE_USES, tf.bool), structure)


def step_context(channel, left, prev, diag, num_centers, uses: tf.Tensor) -> tf.Tensor:
    """Context index at one position from neighbour values (int32 [n]); runtime structure."""
    base = num_centers + 1
    index = channel + tf.zeros_like(left)
    for k, value in enumerate((left, prev, diag)):
        index = tf.where(uses[k], index * base + value, index)
    return index


def _digits_np(channels: int, num_centers: int, structure: int
               ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(channel, neighbour digits) of every context index of a structure."""
    names = STRUCTURES[structure]
    base = num_centers + 1
    rest = np.arange(channels * base ** len(names))
    digits = {}
    for name in reversed(names):
        digits[name] = rest % base
        rest = rest // base
    return rest, digits


def possible_contexts_np(channels: int, num_centers: int, structure: int, width: int) -> np.ndarray:
    """bool [K]: contexts that can occur at all in a latent of this width.

    The table section stores a class only for these, so impossible ones cost nothing.
    """
    channel, digits = _digits_np(channels, num_centers, structure)
    none = num_centers
    ok = np.ones(channel.shape, bool)
    if "left" in digits and width < 2:
        ok &= digits["left"] == none
    if "prev" in digits:
        ok &= (digits["prev"] == none) == (channel == 0)
    if "diag" in digits:
        ok &= (digits["diag"] == none) == ((channel == 0) | (digits["left"] == none))
    return ok


def anchors_np(channels: int, num_centers: int, structure: int) -> np.ndarray:
    """int64 [K]: the symbol a context's table is most likely peaked at (left, else prev).

    Table frequencies are written starting from it (see `symbol_order_np`): once the big
    frequency is out of the way the remaining budget is small and the fields get narrow.
    """
    channel, digits = _digits_np(channels, num_centers, structure)
    anchor = np.zeros(channel.shape, np.int64)
    for name in ("prev", "left"):  # left wins when both are known
        if name in digits:
            anchor = np.where(digits[name] < num_centers, digits[name], anchor)
    return anchor


def symbol_order_np(anchors: np.ndarray, num_centers: int) -> np.ndarray:
    """int64 [K, L]: symbols by distance from the anchor (lower first on ties).

    With anchor 0 this is the natural order 0, 1, ..., L-1.
    """
    symbols = np.arange(num_centers)
    key = np.abs(symbols - anchors[:, None]) * 2 + (symbols > anchors[:, None])
    return np.argsort(key, axis=1, kind="stable")


def _digits(channels, num_centers, structure):
    uses = structure_uses(structure)
    base = tf.cast(num_centers, tf.int64) + 1
    used = tf.cast(uses, tf.int64)
    total = tf.cast(channels, tf.int64) * base ** tf.reduce_sum(used)
    index = tf.range(total)
    # Place value of each neighbour digit: base ** (number of used neighbours after it).
    after = tf.stack([used[1] + used[2], used[2], tf.constant(0, tf.int64)])
    digit = [(index // base ** after[k]) % base for k in range(3)]
    return index // base ** tf.reduce_sum(used), digit, uses


def possible_contexts(channels, num_centers, structure, width) -> tf.Tensor:
    """TF version of `possible_contexts_np` for runtime values (bool [K])."""
    channel, digit, uses = _digits(channels, num_centers, structure)
    none = tf.cast(num_centers, tf.int64)
    ok = tf.ones_like(channel, tf.bool)
    ok &= tf.logical_or(tf.logical_not(uses[0]),
                        tf.logical_or(tf.equal(digit[0], none), width >= 2))
    ok &= tf.logical_or(tf.logical_not(uses[1]),
                        tf.equal(tf.equal(digit[1], none), tf.equal(channel, 0)))
    ok &= tf.logical_or(
        tf.logical_not(uses[2]),
        tf.equal(tf.equal(digit[2], none),
                 tf.logical_or(tf.equal(channel, 0), tf.equal(digit[0], none))))
    return ok


def anchors(channels, num_centers, structure) -> tf.Tensor:
    """TF version of `anchors_np` for runtime values (int64 [K])."""
    channel, digit, uses = _digits(channels, num_centers, structure)
    none = tf.cast(num_centers, tf.int64)
    anchor = tf.zeros_like(channel)
    for k in (1, 0):  # prev, then left (left wins)
        anchor = tf.where(tf.logical_and(uses[k], digit[k] < none), digit[k], anchor)
    return anchor


def symbol_order(anchor: tf.Tensor, num_centers) -> tf.Tensor:
    """TF version of `symbol_order_np` (int64 [K, L])."""
    symbols = tf.range(tf.cast(num_centers, tf.int64))
    key = tf.abs(symbols - anchor[:, None]) * 2 + tf.cast(symbols > anchor[:, None], tf.int64)
    return tf.cast(tf.argsort(key, axis=1, stable=True), tf.int64)
