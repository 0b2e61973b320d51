"""Reading and writing images as a viewer shows them: RGB uint8, EXIF rotation applied."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from tfgc.errors import ImageReadError
from tfgc.utils.files import write_bytes_atomic

IMAGE_EXTENSIONS = (
    ".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
# Refuse before decoding: a crafted header can claim a size whose buffer would exhaust memory.
MAX_PIXELS = 200_000_000


@dataclass
class LoadedImage:
    pixels: np.ndarray  # uint8 [H, W, 3]
    conversions: list[str] = field(default_factory=list)  # what was done to make it RGB


def _to_rgb(image: Image.Image, conversions: list[str]) -> Image.Image:
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        conversions.append(f"{mode} (16-bit) scaled to 8-bit")
        array = np.asarray(image, dtype=np.float64)
        array = np.clip(array / 257.0 if array.max() > 255 else array, 0, 255)
        return Image.fromarray(np.round(array).astype(np.uint8), "L").convert("RGB")
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info):
        conversions.append(f"{mode} with alpha composited onto white")
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    conversions.append(f"{mode} converted to RGB")
    return image.convert("RGB")


def load_image(source: str | os.PathLike | bytes, name: str | None = None) -> LoadedImage:
    """Decodes a file (or bytes) to RGB uint8, applying EXIF orientation like a viewer does.

    `name` is what error messages call the image (default: its path, or "<bytes>")."""
    name = name or ("<bytes>" if isinstance(source, bytes) else os.fspath(source))
    try:
        stream = io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")  # noqa: SIM115
    except OSError as e:
        raise ImageReadError(f"cannot open image {name}: {e.strerror or e}") from None
    with stream:
        try:
            image = Image.open(stream)
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise ImageReadError(
                    f"{name} claims {width}x{height} pixels, more than tfgc accepts ({MAX_PIXELS})")
            conversions: list[str] = []
            frames = getattr(image, "n_frames", 1)
            if frames > 1:  # animated GIF/PNG/WebP, multi-page TIFF: the file opens on frame 1
                conversions.append(f"only the first of its {frames} frames is used")
            orientation = image.getexif().get(0x0112, 1)
            rotated = ImageOps.exif_transpose(image)
            if orientation not in (1, None):
                conversions.append(f"EXIF orientation {orientation} applied")
            rgb = _to_rgb(rotated, conversions)
            pixels = np.asarray(rgb, dtype=np.uint8).copy()
        except ImageReadError:
            raise
        except Image.DecompressionBombError as e:
            raise ImageReadError(f"{name} claims more pixels than tfgc accepts: {e}") from None
        except UnidentifiedImageError:
            raise ImageReadError(f"cannot decode image {name}: not a format tfgc reads, or "
                                 "corrupt") from None
        except (OSError, ValueError, SyntaxError) as e:
            raise ImageReadError(f"cannot decode image {name}: {e}") from None
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.size == 0:
        raise ImageReadError(f"{name} decoded to an unexpected shape {pixels.shape}")
    return LoadedImage(pixels, conversions)


def read_rgb(source: str | os.PathLike | bytes) -> np.ndarray:
    return load_image(source).pixels


def encode_png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(pixels, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def write_png(path: str | os.PathLike, pixels: np.ndarray) -> None:
    write_bytes_atomic(path, encode_png(pixels))


def list_images(pattern_or_dir: str | os.PathLike) -> list[str]:
    """Image files under a folder (recursive) or matching a glob (with ** support), sorted."""
    import glob

    path = os.fspath(pattern_or_dir)
    if os.path.isdir(path):
        candidates = glob.glob(os.path.join(path, "**", "*"), recursive=True)
    elif os.path.isfile(path):
        candidates = [path]
    else:
        candidates = glob.glob(path, recursive=True)
    return sorted(p for p in candidates
                  if os.path.isfile(p) and p.lower().endswith(IMAGE_EXTENSIONS))
