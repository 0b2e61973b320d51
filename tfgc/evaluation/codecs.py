"""The classical codecs tfgc compares against, each with one rate knob to search.

Every codec is used through a PyPI wheel (Pillow, pillow-heif) so results are reproducible offline.
HEIC (HEVC intra by x265) stands in for BPG, the paper's baseline: BPG is HEVC intra in its own
container, and no BPG encoder is available from apt or PyPI. JPEG 2000 is written as a raw
codestream (.j2k), the smallest container it has.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
from PIL import Image, features

from tfgc.errors import ConfigError
from tfgc.evaluation import containers

BPG_NOTE = ("HEIC (HEVC intra, x265 via pillow-heif) stands in for BPG, the paper's baseline: BPG "
            "is HEVC intra in its own container and no BPG encoder is available offline.")


@dataclass(frozen=True)
class BaselineCodec:
    """A codec with one rate knob; a higher setting gives more bits (assumed monotonic)."""

    name: str
    label: str
    knob: str  # "quality" (integer, binary-searched) or "rate_ratio" (exact rate control)
    lowest: float  # the setting giving the fewest bits
    highest: float
    encode: Callable[[np.ndarray, float], bytes]
    decode: Callable[[bytes], np.ndarray]
    payload_size: Callable[[bytes], Optional[int]]
    options: dict = field(default_factory=dict)  # fixed encoder options, written to results
    note: str = ""


def _pil_encode(format_name: str, knob: str, **options) -> Callable[[np.ndarray, float], bytes]:
    def encode(image: np.ndarray, setting: float) -> bytes:
        buffer = io.BytesIO()
        value = int(setting) if knob == "quality" else [float(setting)]
        key = "quality" if knob == "quality" else "quality_layers"
        Image.fromarray(image).save(buffer, format=format_name, **{key: value}, **options)
        return buffer.getvalue()

    return encode


def _pil_decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()


def _heic_encode(image: np.ndarray, setting: float) -> bytes:
    import pillow_heif

    height, width = image.shape[:2]
    heif = pillow_heif.from_bytes(mode="RGB", size=(width, height),
                                  data=np.ascontiguousarray(image).tobytes())
    buffer = io.BytesIO()
    heif.save(buffer, quality=int(setting), chroma=420)
    return buffer.getvalue()


def _heic_decode(data: bytes) -> np.ndarray:
    import pillow_heif

    heif = pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=True)
    return np.asarray(heif.to_pillow().convert("RGB"), dtype=np.uint8).copy()


# Pillow/OpenJPEG rates are compression ratios against 8-bit x 3-channel raw data.
J2K_RAW_BPP = 24.0
J2K_MAX_RATIO = 1e7  # asks for far less than the headers take: the codec's lowest setting

BASELINES: dict[str, BaselineCodec] = {
    codec.name: codec for codec in (
        BaselineCodec("jpeg", "JPEG", "quality", 1, 100,
                      _pil_encode("JPEG", "quality", optimize=True, subsampling="4:2:0"),
                      _pil_decode, containers.jpeg_payload,
                      {"optimize": True, "subsampling": "4:2:0"}),
        BaselineCodec("webp", "WebP", "quality", 0, 100,
                      _pil_encode("WEBP", "quality", method=6), _pil_decode,
                      containers.webp_payload, {"method": 6}),
        BaselineCodec("avif", "AVIF", "quality", 0, 100,
                      _pil_encode("AVIF", "quality", speed=6, subsampling="4:2:0"), _pil_decode,
                      containers.isobmff_payload, {"speed": 6, "subsampling": "4:2:0"}),
        BaselineCodec("heic", "HEIC (BPG stand-in)", "quality", 0, 100, _heic_encode, _heic_decode,
                      containers.isobmff_payload, {"chroma": "4:2:0", "x265": "defaults"},
                      note=BPG_NOTE),
        # High ratio = few bits, so the knob runs the other way; rate_matching handles it.
        BaselineCodec("jpeg2000", "JPEG 2000", "rate_ratio", J2K_MAX_RATIO, 1.0,
                      _pil_encode("JPEG2000", "rate_ratio", quality_mode="rates", no_jp2=True,
                                  irreversible=True),
                      _pil_decode, containers.j2k_payload,
                      {"quality_mode": "rates", "no_jp2": True, "irreversible": True}),
    )
}
DEFAULT_BASELINES = tuple(BASELINES)

_PIL_FEATURES = {"jpeg": "jpg", "webp": "webp", "avif": "avif", "jpeg2000": "jpg_2000"}


def _check_available(name: str) -> None:
    if name in _PIL_FEATURES and not features.check(_PIL_FEATURES[name]):
        raise ConfigError(f"this Pillow build cannot encode {name}; install pillow==13.0.0 "
                          f"from PyPI, or leave {name} out of --baselines")
    if name == "heic":
        try:
            import pillow_heif
        except ImportError:
            raise ConfigError("heic needs pillow-heif: pip install pillow-heif==1.8.1, or leave "
                              "heic out of --baselines") from None
        if not pillow_heif.libheif_info().get("encoders", {}).get("x265"):
            raise ConfigError("this pillow-heif has no x265 encoder; leave heic out of --baselines")


def get_baselines(names: Sequence[str]) -> list[BaselineCodec]:
    """Validated codecs in the order given; unknown or unavailable names raise ConfigError."""
    codecs = []
    for name in names:
        key = name.strip().lower()
        if key in ("bpg", "heif"):
            key = "heic"
        if key in ("jp2", "j2k", "jpeg-2000"):
            key = "jpeg2000"
        if key not in BASELINES:
            raise ConfigError(f"unknown baseline codec {name!r}; choose from "
                              f"{', '.join(BASELINES)}")
        _check_available(key)
        if BASELINES[key] not in codecs:
            codecs.append(BASELINES[key])
    return codecs


def codec_versions() -> dict[str, str]:
    """Library versions behind each codec, for the results' run info."""
    import PIL

    versions = {"pillow": PIL.__version__}
    for label, feature in (("libjpeg-turbo", "libjpeg_turbo"), ("libjpeg-api", "jpg"),
                           ("libwebp", "webp"), ("libavif", "avif"), ("openjpeg", "jpg_2000")):
        try:
            version = features.version(feature)
        except ValueError:
            version = None
        if version:
            versions[label] = version
    try:
        import pillow_heif

        info = pillow_heif.libheif_info()
        versions["pillow-heif"] = pillow_heif.__version__
        versions["libheif"] = pillow_heif.libheif_version()
        versions["x265"] = str(info.get("encoders", {}).get("x265", "absent"))
        versions["libde265"] = str(info.get("decoders", {}).get("libde265", "absent"))
    except ImportError:
        pass
    return versions
