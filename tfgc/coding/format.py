"""The `.tfgc` container, version 1: constants, limits and a pure-Python validating parser.

The TF graphs in `encoder.py` / `decoder.py` write and read the same layout (documented in
docs/bitstream.md); this parser lets the Python API check a file before running any graph, so
a bad file surfaces as a precise `tfgc.errors` exception instead of an InvalidArgumentError.
Everything here is plain Python on `bytes`: it allocates nothing in proportion to what a header
claims before checking the claim against the limits and the file's real size.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

from tfgc.errors import (
    BitstreamError,
    ConfigError,
    ModelMismatchError,
    ResourceLimitError,
    TfgcError,
    UnsupportedVersionError,
)

MAGIC = b"TFGC"
FORMAT_VERSION = 1
FINGERPRINT_BYTES = 16

# Fixed header: magic, version, flags, fingerprint, H, W, pad_bottom, pad_right, h, w, C, L,
# entropy model, table precision, noise seed (all little-endian).
_FIXED = struct.Struct("<4sBB16sHHHHHHHBBBI")
FIXED_HEADER_BYTES = _FIXED.size  # 43
SECTION_HEADER = struct.Struct("<BBI")  # type, flags (bit 0: required), length
CRC_BYTES = 4
# Fixed header + section count + stream-length width + CRC: the smallest possible file.
MIN_FILE_BYTES = FIXED_HEADER_BYTES + 2 + CRC_BYTES

# Limits: a header claiming more is refused before anything is allocated.
MAX_IMAGE_SIDE = 65535
MAX_CHANNELS = 1024
MIN_CENTERS, MAX_CENTERS = 2, 64
MAX_LATENT_ELEMENTS = 1 << 25  # h * w * C; e.g. 2048 x 2048 x 8 latents (a 32768^2 image)
MAX_TABLE_ENTRIES = 1 << 22  # contexts * (L + 2) int32 lookup entries (16 MiB)
MAX_LENGTH_BITS = 32
# Decode-size policy: an image of more pixels is refused before anything is allocated, unless
# the caller raises the limit. Pillow's default `Image.MAX_IMAGE_PIXELS`, for the same reason.
DEFAULT_MAX_PIXELS = 89_478_485
NO_PIXEL_LIMIT = MAX_IMAGE_SIDE**2  # what graphs that take the limit as an input get for "none"
# Rows decode in lockstep, one position (x, c) per loop step: bound the steps of a row.
MAX_ROW_SYMBOLS = 1 << 18  # w * C
# The stock decoder pads every stream to the longest one: bound h * longest stream (bytes).
MAX_STREAM_CELLS = 1 << 26

# Entropy-model byte: bits 0-3 context structure, bit 7 tables supplied by the model.
STRUCTURE_MASK = 0x0F
MODEL_TABLES_BIT = 0x80
# Context structures: which already-decoded neighbours select the table (besides the channel).
# "left" is (y, x-1, c), "prev" is (y, x, c-1), "diag" is (y, x-1, c-1); all causal within a row.
STRUCTURES: dict[int, tuple[str, ...]] = {
    0: (),
    1: ("left",),
    2: ("prev",),
    3: ("left", "prev"),
    4: ("left", "prev", "diag"),
}
# Model tables are identified by their row count C * (L+1)**k, so for each neighbour count k
# only the first structure with k neighbours can use them (structure 2 cannot).
CANONICAL_STRUCTURE = (0, 1, 3, 4)
STRUCTURE_NAMES = {0: "static", 1: "left", 2: "channel", 3: "left+channel",
                   4: "left+channel+diagonal"}
# Model-supplied tables have this fixed precision (every symbol >= 1).
MODEL_TABLE_PRECISION = 16
# Table classes in the file: 0 = uniform table at precision 16, 1..3 = base + (class-1) * step.
UNIFORM_PRECISION = 16
# The range coder's largest table precision (tfc's); a file's three classes stay within it.
MAX_PRECISION = 16
# Table-precision byte of file tables: bits 0-3 base - 1, bits 4-5 step - 1 (0 with model tables).
PRECISION_BITS = 0x3F

# Flags: bit 0 = selective compression (SC): a preservation-mask section says which latent
# positions are coded; the others cost nothing and read as "none" in contexts. Readers reject
# other set bits, naming them.
FLAG_SELECTIVE = 0x01
FLAG_NAMES = {FLAG_SELECTIVE: "selective compression"}
KNOWN_FLAGS = FLAG_SELECTIVE
# Section types (SC files carry 1 and 2, with the required bit): the preservation mask, h x w
# bits MSB first (1 = coded), and the label map, a PNG (8-bit gray, H x W, one train id per
# pixel). Type 3, optional in any file: a colour offset, one signed byte per channel (R, G,
# B) in 8-bit levels, added to the decoder's output before it is rounded and clipped to 8
# bits. Readers refuse unknown required sections and skip unknown optional ones.
SECTION_PRESERVE_MASK = 1
SECTION_LABEL_MAP = 2
SECTION_COLOUR_OFFSET = 3
SECTION_NAMES = {SECTION_PRESERVE_MASK: "preservation mask", SECTION_LABEL_MAP: "label map",
                 SECTION_COLOUR_OFFSET: "colour offset"}
KNOWN_SECTION_TYPES: frozenset[int] = frozenset(SECTION_NAMES)
SC_SECTION_TYPES = (SECTION_PRESERVE_MASK, SECTION_LABEL_MAP)
COLOUR_OFFSET_BYTES = 3  # R, G, B
MIN_COLOUR_OFFSET, MAX_COLOUR_OFFSET = -128, 127  # int8
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Signature, IHDR length and type, width, height, bit depth, colour type: what is checked.
PNG_HEADER_BYTES = 26


# Every check a reader makes, by name, in the order it makes them (docs/bitstream.md, "Reading
# a file"), with the error it raises. The Python parser raises and the decode graph asserts by
# these names, so the API and the SavedModels classify every bad file the same way.
CHECKS: dict[str, type[TfgcError]] = {
    "empty": BitstreamError,
    "magic": BitstreamError,
    "version": UnsupportedVersionError,
    "version_zero": BitstreamError,
    "truncated": BitstreamError,
    "crc": BitstreamError,
    "flags": UnsupportedVersionError,
    "sizes": BitstreamError,
    "stride": BitstreamError,
    "entropy_model": BitstreamError,
    "precision": BitstreamError,
    "contexts": BitstreamError,
    "selective": ModelMismatchError,
    "fingerprint": ModelMismatchError,
    "centers": ModelMismatchError,
    "channels": ModelMismatchError,
    "pixels": ResourceLimitError,
    "section": BitstreamError,
    "required_section": UnsupportedVersionError,
    "lengths": BitstreamError,
    "model_tables": ModelMismatchError,
    "tables": BitstreamError,
    "payload": BitstreamError,
}
# The decode graph's assert messages start with this, then the check's name and ": ".
GRAPH_PREFIX = "tfgc bitstream: "
# What an SC model is given besides the image (label map and preservation mask), checked by
# name the same way: the Python API raises these classes, and the SavedModels' compress and
# synthesis graphs assert under the same names (after INPUT_PREFIX), which
# `tfgc.coding.error_from_graph` turns into the same classes. Order: the API's and the graphs'.
INPUT_CHECKS: dict[str, type[TfgcError]] = {
    "label_map_size": ConfigError,
    "label_map_ids": ConfigError,
    "preserve_mask_size": ConfigError,
}
INPUT_PREFIX = "tfgc input: "
FLAGS_TEMPLATE = ("this file sets flag bits 0x{}, which this build of tfgc (format version "
                  f"{FORMAT_VERSION}; it knows " + ", ".join(
                      f"0x{bit:02x} {name}" for bit, name in FLAG_NAMES.items())
                  + ") does not support; upgrade tfgc to decode it")
REQUIRED_SECTION_TEMPLATE = ("this file needs section type {}, which this build of tfgc does not "
                             f"support (format version {FORMAT_VERSION}); upgrade tfgc to "
                             "decode it")
LABEL_IDS_TEMPLATE = ("the label map holds train id {}; the model has classes 0..{} (255 = "
                      "ignored)")
# A file's label-map section is checked against the decoding model's classes in the decode
# graph (the only place that knows them), under check "section": a bad file, not a bad input.
LABEL_SECTION_TEMPLATE = "the file's label-map section: " + LABEL_IDS_TEMPLATE
PIXEL_LIMIT_TEMPLATE = (
    "this file decodes to a {}x{} image ({} pixels), above the limit of {} pixels; if you "
    "trust it, raise the limit (max_pixels= in Python, --max-pixels on the command line)")


def reader_error(check: str, message: str) -> TfgcError:
    """The exception for a failed reader check: one class per check, for the API and graphs."""
    error = CHECKS[check]
    if error is BitstreamError:
        message = f"not a valid .tfgc file: {message}"
    return error(message)


def input_error(check: str, message: str) -> TfgcError:
    """The exception for a failed input check (`INPUT_CHECKS`), for the API and graphs."""
    return INPUT_CHECKS[check](message)


def graph_tag(check: str) -> str:
    """How a graph's assert message starts for a named check (`error_from_graph` reads it)."""
    if check in CHECKS:
        return f"{GRAPH_PREFIX}{check}: "
    if check in INPUT_CHECKS:
        return f"{INPUT_PREFIX}{check}: "
    raise KeyError(f"no check named {check!r}")


def size_mismatch_template(what: str, reference: str = "the image") -> str:
    """'the <what> is {} but <reference> is {}; ...', sizes written WxH: filled by
    `str.format` in Python and `bitops.format_message` in graphs, so both say the same."""
    return f"the {what} is {{}} but {reference} is {{}}; they must be the same size"


def flags_message(flags: int) -> str:
    return FLAGS_TEMPLATE.format(f"{flags & ~KNOWN_FLAGS:02x}")


def selective_mismatch_message(file_selective: bool) -> str:
    """An SC file given to a model without SC, or the other way round (check `selective`)."""
    if file_selective:
        return ("this file was made by a selective-compression (SC) model and this model is "
                "not one (it decodes without label maps): decode it with the SC model that "
                "wrote it")
    return ("this file was made by a model without selective compression and this is a "
            "selective-compression (SC) model: decode it with the model that wrote it")


@dataclass(frozen=True)
class Section:
    type: int
    required: bool
    data: bytes


@dataclass(frozen=True)
class Header:
    """Everything in a `.tfgc` file except the coded symbols, with byte positions."""

    version: int
    flags: int
    fingerprint: bytes
    image_height: int
    image_width: int
    pad_bottom: int
    pad_right: int
    latent_height: int
    latent_width: int
    channels: int
    num_centers: int
    structure: int
    model_tables: bool
    precision_base: int  # 0 when the model supplies the tables
    precision_step: int
    noise_seed: int
    sections: tuple[Section, ...] = field(default_factory=tuple)
    stream_lengths: tuple[int, ...] = ()
    tables_offset: int = 0
    tables_size: int = 0
    payload_offset: int = 0
    file_size: int = 0

    @property
    def payload_size(self) -> int:
        return sum(self.stream_lengths)

    @property
    def header_size(self) -> int:
        """Bytes that are not range-coded symbols: container, tables, stream lengths, CRC."""
        return self.file_size - self.payload_size

    @property
    def entropy_model(self) -> str:
        source = "model tables" if self.model_tables else "file tables"
        return f"{STRUCTURE_NAMES[self.structure]} ({source})"

    @property
    def num_contexts(self) -> int:
        return num_contexts(self.channels, self.num_centers, self.structure)

    @property
    def selective(self) -> bool:
        return bool(self.flags & FLAG_SELECTIVE)

    def section(self, kind: int) -> Section | None:
        return next((s for s in self.sections if s.type == kind), None)

    @property
    def colour_offset(self) -> tuple[int, int, int]:
        """The per-channel offset (R, G, B, 8-bit levels) the decoder adds; 0s without one."""
        section = self.section(SECTION_COLOUR_OFFSET)
        if section is None:
            return (0, 0, 0)
        return tuple(colour_offset_value(b) for b in section.data)

    def preserve_mask(self) -> list[list[bool]] | None:
        """The h x w preservation mask of an SC file (row-major, True = coded), else None."""
        section = self.section(SECTION_PRESERVE_MASK)
        if section is None:
            return None
        bits = _unpack_bits(section.data, self.latent_height * self.latent_width, 1,
                            "preservation mask", "section")
        w = self.latent_width
        return [[bool(b) for b in bits[y * w:(y + 1) * w]] for y in range(self.latent_height)]


def colour_offset_value(byte: int) -> int:
    """One byte of the colour-offset section as its signed level (two's complement)."""
    return byte - 256 if byte >= 128 else byte


def num_contexts(channels: int, num_centers: int, structure: int) -> int:
    return channels * (num_centers + 1) ** len(STRUCTURES[structure])


def unpack_entropy_model_byte(value: int) -> tuple[int, bool]:
    """(context structure, whether the model supplies the tables)."""
    return value & STRUCTURE_MASK, bool(value & MODEL_TABLES_BIT)


def entropy_model_byte_valid(value: int) -> bool:
    """The check `entropy_model`: a known structure and no other bits."""
    return (not value & ~(STRUCTURE_MASK | MODEL_TABLES_BIT)
            and unpack_entropy_model_byte(value)[0] in STRUCTURES)


def precision_byte(base: int, step: int):
    """The table-precision byte of file tables (ints or integer tensors)."""
    return (base - 1) + 16 * (step - 1)


def unpack_precision_byte(value: int) -> tuple[int, int]:
    """(base, step) of file tables: their classes have precisions base, +step, +2 step."""
    return (value & 0x0F) + 1, ((value >> 4) & 0x03) + 1


def precision_byte_valid(value: int, model_tables: bool) -> bool:
    """The check `precision`: 0 with model tables; else no unknown bits and every class's
    precision at most `MAX_PRECISION`."""
    if model_tables:
        return value == 0
    base, step = unpack_precision_byte(value)
    return not value & ~PRECISION_BITS and base + 2 * step <= MAX_PRECISION


def pixel_limit_message(height: int, width: int, max_pixels: int) -> str:
    return PIXEL_LIMIT_TEMPLATE.format(width, height, height * width, max_pixels)


def max_stream_bytes(row_symbols: int) -> int:
    """The longest stream `row_symbols` symbols can need: tfc's coder emits at most one 16-bit
    word per symbol (precision <= 16) and at most 2 bytes when it finalises."""
    return 2 * row_symbols + 2


def check_fingerprint(fingerprint: bytes) -> bytes:
    fingerprint = bytes(fingerprint)
    if len(fingerprint) != FINGERPRINT_BYTES:
        raise ValueError(
            f"a model fingerprint is {FINGERPRINT_BYTES} bytes, got {len(fingerprint)}")
    return fingerprint


def mismatch_message(file_fingerprint: bytes, model_fingerprint: bytes) -> str:
    return (f"this file was made by model {file_fingerprint.hex()}, you are decoding with model "
            f"{model_fingerprint.hex()}; decode it with the model that wrote it")


def _unpack_bits(data: bytes, count: int, width: int, what: str,
                 check: str = "lengths") -> list[int]:
    """`count` MSB-first values of `width` bits; the padding bits must be zero."""
    needed = (count * width + 7) // 8
    if len(data) != needed:
        raise reader_error(check, f"{what}: expected {needed} bytes, found {len(data)}")
    number = int.from_bytes(data, "big") if data else 0
    spare = needed * 8 - count * width
    if number & ((1 << spare) - 1):
        raise reader_error(check, f"{what}: nonzero padding bits")
    number >>= spare
    mask = (1 << width) - 1
    return [(number >> (width * (count - 1 - i))) & mask for i in range(count)] if width else \
        [0] * count


def check_label_map_png(data: bytes, height: int, width: int) -> None:
    """A label-map section is an 8-bit grayscale PNG of the image's size."""
    if len(data) < PNG_HEADER_BYTES or data[:8] != PNG_SIGNATURE or data[12:16] != b"IHDR":
        raise reader_error("section", "the label-map section is not a PNG")
    png_w, png_h = struct.unpack(">II", data[16:24])
    if (png_h, png_w) != (height, width):
        raise reader_error("section",
                           f"the label map is {png_w}x{png_h}, the image {width}x{height}")
    if data[24] != 8 or data[25] != 0:
        raise reader_error("section", f"the label map PNG must be 8-bit grayscale (bit depth "
                           f"{data[24]}, colour type {data[25]})")


def _check_sections(sections: list[Section], flags: int, h: int, w: int, height: int,
                    width: int) -> None:
    kinds = [s.type for s in sections]
    for kind in KNOWN_SECTION_TYPES:
        if kinds.count(kind) > 1:
            raise reader_error("section", f"more than one {SECTION_NAMES[kind]} section")
    selective = bool(flags & FLAG_SELECTIVE)
    for kind in SC_SECTION_TYPES:
        if (kind in kinds) != selective:
            state = "present" if kind in kinds else "missing"
            raise reader_error("section", f"the selective-compression flag is {int(selective)} "
                               f"but the {SECTION_NAMES[kind]} section is {state}")
    for section in sections:
        if section.type == SECTION_PRESERVE_MASK:
            _unpack_bits(section.data, h * w, 1, "preservation mask", "section")
        elif section.type == SECTION_LABEL_MAP:
            check_label_map_png(section.data, height, width)
        elif section.type == SECTION_COLOUR_OFFSET and len(section.data) != COLOUR_OFFSET_BYTES:
            raise reader_error("section", f"the colour-offset section has {len(section.data)} "
                               f"bytes, it must have {COLOUR_OFFSET_BYTES} (R, G, B)")


def parse_header(data: bytes, fingerprint: bytes | None = None,
                 decoder_fingerprint: bytes | None = None, *, stride: int | None = None,
                 num_centers: int | None = None, num_channels: int | None = None,
                 max_pixels: int | None = None, selective: bool | None = None) -> Header:
    """Validates a whole `.tfgc` file (container, CRC, limits, lengths) and returns its header.

    The checks run in the order of `CHECKS` (the decode graph's order). The optional
    arguments are the decoding model's facts and the caller's policy: a file from another
    model raises ModelMismatchError (a file that does not use the model tables may instead
    carry `decoder_fingerprint`, docs/bitstream.md; an SC file given to a model without SC,
    `selective=False`, or the reverse, says so first), another stride BitstreamError, an image
    above `max_pixels` ResourceLimitError. Tables are checked by
    `tables.parse_table_section_np`.
    """
    data = bytes(data)
    n = len(data)
    if n == 0:
        raise reader_error("empty", "the file is empty")
    if data[:4] != MAGIC[: min(4, n)]:
        raise reader_error("magic", f"wrong magic bytes {data[:4]!r} (expected {MAGIC!r}); "
                           "this is not a tfgc file")
    if n < 5:
        raise reader_error("truncated", f"truncated: {n} bytes")
    version = data[4]
    if version > FORMAT_VERSION:
        raise reader_error(
            "version", f"this file uses .tfgc format version {version}, this build of tfgc reads "
            f"versions up to {FORMAT_VERSION}; upgrade tfgc to decode it")
    if version == 0:
        raise reader_error("version_zero", "format version 0 does not exist")
    if n < MIN_FILE_BYTES:
        raise reader_error("truncated", f"truncated: {n} bytes, a file has at least "
                           f"{MIN_FILE_BYTES}")
    stored_crc = int.from_bytes(data[-CRC_BYTES:], "little")
    if zlib.crc32(data[:-CRC_BYTES]) != stored_crc:
        raise reader_error("crc", "CRC mismatch: the file is corrupted or truncated")
    (_, _, flags, file_fp, height, width, pad_b, pad_r, h, w, c, centers, model_byte, prec_byte,
     seed) = _FIXED.unpack_from(data, 0)
    if flags & ~KNOWN_FLAGS:
        raise reader_error("flags", flags_message(flags))
    for name, value in (("image height", height), ("image width", width),
                        ("latent height", h), ("latent width", w)):
        if value < 1:
            raise reader_error("sizes", f"{name} is 0")
    if not 1 <= c <= MAX_CHANNELS:
        raise reader_error("sizes", f"{c} latent channels (limit 1..{MAX_CHANNELS})")
    if not MIN_CENTERS <= centers <= MAX_CENTERS:
        raise reader_error("sizes", f"{centers} quantization centers (limit "
                           f"{MIN_CENTERS}..{MAX_CENTERS})")
    if h * w * c > MAX_LATENT_ELEMENTS or w * c > MAX_ROW_SYMBOLS:
        raise reader_error("sizes", f"latent {h}x{w}x{c} exceeds the limits "
                           f"({MAX_LATENT_ELEMENTS} elements, {MAX_ROW_SYMBOLS} per row)")
    padded_h, padded_w = height + pad_b, width + pad_r
    file_stride = padded_h // h
    if (padded_h % h or padded_w % w or padded_w // w != file_stride or pad_b >= file_stride
            or pad_r >= file_stride):
        raise reader_error("stride", f"image {height}x{width} padded by {pad_b},{pad_r} is not "
                           f"latent {h}x{w} times one stride with less than a stride of padding")
    if stride is not None and file_stride != stride:
        raise reader_error("stride", f"the header's stride is {file_stride} (image {height}x"
                           f"{width}, latent {h}x{w}), the model's is {stride}")
    if not entropy_model_byte_valid(model_byte):
        raise reader_error("entropy_model", f"unknown entropy model 0x{model_byte:02x}")
    structure, use_model = unpack_entropy_model_byte(model_byte)
    if not precision_byte_valid(prec_byte, use_model):
        raise reader_error("precision", "table precision must be 0 with model tables" if use_model
                           else f"invalid table precision byte 0x{prec_byte:02x}")
    base, step = (0, 0) if use_model else unpack_precision_byte(prec_byte)
    k = num_contexts(c, centers, structure)
    if k * (centers + 2) > MAX_TABLE_ENTRIES:
        raise reader_error("contexts", f"{k} contexts of {centers} symbols exceed the table "
                           "limit")
    if selective is not None and bool(flags & FLAG_SELECTIVE) != selective:
        raise reader_error("selective", selective_mismatch_message(not selective))
    if fingerprint is not None:
        fingerprint = check_fingerprint(fingerprint)
        accepted = [fingerprint]  # files using the model tables: the model's fingerprint only
        if decoder_fingerprint is not None and not use_model:
            accepted.append(check_fingerprint(decoder_fingerprint))
        if file_fp not in accepted:
            raise reader_error("fingerprint", mismatch_message(file_fp, accepted[-1]))
    if num_centers is not None and centers != num_centers:
        raise reader_error("centers", f"this file has L={centers} quantization centers, the "
                           f"model has {num_centers}: it was made by another model")
    if num_channels is not None and c != num_channels:
        raise reader_error("channels", f"this file has {c} latent channels, the model has "
                           f"{num_channels}: it was made by another model")
    if max_pixels is not None and height * width > max_pixels:
        raise reader_error("pixels", pixel_limit_message(height, width, max_pixels))

    end = n - CRC_BYTES
    pos = FIXED_HEADER_BYTES
    count = data[pos]
    pos += 1
    sections = []
    for _ in range(count):
        if pos + SECTION_HEADER.size > end:
            raise reader_error("section", "truncated optional section header")
        kind, sflags, length = SECTION_HEADER.unpack_from(data, pos)
        pos += SECTION_HEADER.size
        if sflags & ~1:
            raise reader_error("section", f"section {kind}: unknown section flags 0x{sflags:02x}")
        if length > end - pos:
            raise reader_error("section", f"section {kind} claims {length} bytes, only "
                               f"{end - pos} remain")
        if sflags & 1 and kind not in KNOWN_SECTION_TYPES:
            raise reader_error("required_section", REQUIRED_SECTION_TEMPLATE.format(kind))
        sections.append(Section(kind, bool(sflags & 1), data[pos:pos + length]))
        pos += length
    _check_sections(sections, flags, h, w, height, width)
    if pos >= end:
        raise reader_error("lengths", "truncated before the stream lengths")
    length_bits = data[pos]
    pos += 1
    if length_bits > MAX_LENGTH_BITS:
        raise reader_error("lengths", f"stream lengths of {length_bits} bits")
    length_bytes = (h * length_bits + 7) // 8
    if length_bytes > end - pos:
        raise reader_error("lengths", "truncated stream lengths")
    lengths = _unpack_bits(data[pos:pos + length_bytes], h, length_bits, "stream lengths")
    pos += length_bytes
    payload = sum(lengths)
    if max(lengths) > max_stream_bytes(w * c):
        raise reader_error("lengths", f"a stream of {max(lengths)} bytes for {w * c} symbols "
                           f"(the coder writes at most {max_stream_bytes(w * c)})")
    if h * max(lengths) > MAX_STREAM_CELLS:
        raise reader_error("lengths", f"{h} streams of up to {max(lengths)} bytes exceed the "
                           f"limit of {MAX_STREAM_CELLS} (rows x longest stream)")
    tables_size = end - pos - payload
    if tables_size < 0:
        raise reader_error("lengths", f"the streams claim {payload} bytes, only {end - pos} "
                           "remain")
    if use_model and tables_size:
        raise reader_error("lengths", f"{tables_size} unexpected bytes before the payload")
    return Header(
        version=version, flags=flags, fingerprint=file_fp, image_height=height,
        image_width=width, pad_bottom=pad_b, pad_right=pad_r, latent_height=h, latent_width=w,
        channels=c, num_centers=centers, structure=structure, model_tables=use_model,
        precision_base=base, precision_step=step, noise_seed=seed, sections=tuple(sections),
        stream_lengths=tuple(lengths), tables_offset=pos, tables_size=tables_size,
        payload_offset=pos + tables_size, file_size=n)


def header_size(data: bytes) -> int:
    """Non-payload bytes of a valid file (container, tables, stream lengths, CRC)."""
    return parse_header(data).header_size
