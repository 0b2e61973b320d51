"""Range-decoder backends behind one small interface, so one decode loop serves both.

* "tfc": tensorflow-compression's custom ops (fast; needs the ops registered wherever the
  graph runs). tfc is imported only when this backend is used, so a graph traced with the
  "stock" backend never references it.
* "stock": `stock_range_decoder.StockRangeDecoder`, stock TF ops only (for TF Serving, TFLite
  and TF.js exports), bit-exact with tfc.

A backend's state is a tuple of tensors, so it can be a `tf.while_loop` variable.
"""

from __future__ import annotations

from typing import Any, Protocol

import tensorflow as tf

State = Any


class RangeDecoderBackend(Protocol):
    name: str
    block_decoding: bool  # decode_block is one op (else it is a loop of decode_index)

    def create(self, strings: tf.Tensor, lookup: tf.Tensor) -> State:
        """Decoder state for the streams `strings` (tf.string [n]) and a tfc-format lookup."""

    def decode_index(self, state: State, index: tf.Tensor) -> tuple[State, tf.Tensor]:
        """One symbol per stream, stream i with table `index[i]` (int32 [n])."""

    def decode_block(self, state: State, index: tf.Tensor) -> tuple[State, tf.Tensor]:
        """`index.shape[1]` symbols per stream (int32 [n, m])."""

    def finalize(self, state: State) -> tf.Tensor:
        """The coder's own (weak) end-of-stream check, bool scalar."""


class TfcBackend:
    name = "tfc"
    block_decoding = True

    @staticmethod
    def _ops():
        import tensorflow_compression as tfc  # lazily: the stock export must not reference it

        return tfc

    def create(self, strings: tf.Tensor, lookup: tf.Tensor) -> State:
        return (self._ops().create_range_decoder(strings, lookup),)

    def decode_index(self, state: State, index: tf.Tensor) -> tuple[State, tf.Tensor]:
        handle, symbols = self._ops().entropy_decode_index(
            state[0], index, tf.zeros([0], tf.int32), tf.int32)
        return (handle,), symbols

    def decode_block(self, state: State, index: tf.Tensor) -> tuple[State, tf.Tensor]:
        handle, symbols = self._ops().entropy_decode_index(
            state[0], index, tf.shape(index)[1:], tf.int32)
        return (handle,), symbols

    def finalize(self, state: State) -> tf.Tensor:
        return tf.reduce_all(self._ops().entropy_decode_finalize(state[0]))


class StockBackend:
    name = "stock"
    block_decoding = False

    @staticmethod
    def _decoder():
        from tfgc.coding.stock_range_decoder import StockRangeDecoder

        return StockRangeDecoder

    def create(self, strings: tf.Tensor, lookup: tf.Tensor) -> State:
        return self._decoder().create(strings, lookup)

    def decode_index(self, state: State, index: tf.Tensor) -> tuple[State, tf.Tensor]:
        return self._decoder().decode_index(state, index)

    def decode_block(self, state: State, index: tf.Tensor) -> tuple[State, tf.Tensor]:
        # The stock decoder steps all streams in lockstep, one symbol per step.
        columns = tf.transpose(index)
        steps = tf.shape(columns)[0]

        def body(step, state, out):
            state, symbols = self.decode_index(state, columns[step])
            return step + 1, state, out.write(step, symbols)

        _, state, out = tf.while_loop(
            lambda step, *_: step < steps, body,
            (tf.constant(0), state,
             tf.TensorArray(tf.int32, size=steps, element_shape=[None])))
        return state, tf.reshape(tf.transpose(out.stack()), tf.shape(index))

    def finalize(self, state: State) -> tf.Tensor:
        return self._decoder().finalize(state)


BACKENDS: dict[str, RangeDecoderBackend] = {"tfc": TfcBackend(), "stock": StockBackend()}


def get_backend(backend: str | RangeDecoderBackend) -> RangeDecoderBackend:
    if not isinstance(backend, str):
        return backend
    try:
        return BACKENDS[backend]
    except KeyError:
        raise ValueError(f"unknown range-decoder backend {backend!r}; use one of "
                         f"{sorted(BACKENDS)}") from None
