"""Training a WGAN-GP (ResNet) on the quantised codes w_hat a GC model gives random crops of a
photo folder (paper Sec. 6.1: default WGAN-GP parameters, n_critic 5, Adam 1e-4, (0, 0.9)).

    python -m tfgc.training.code_prior --model MODEL --images PHOTOS --out PRIOR \
        [--crop 128] [--codes 512] [--steps 2000]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from tfgc.networks.code_prior import CodePriorCritic, CodePriorGenerator
from tfgc.training.dcgan import ImageGAN, crop_dataset


def collect_codes(networks, images: str, crop: int, count: int, scale_to: int,
                  seed: int) -> np.ndarray:
    """w_hat (center values) [count, crop/stride, crop/stride, C] of random crops."""
    batches, done = [], 0
    data = crop_dataset(images, crop, 16, scale_to, seed)
    with tqdm(total=count, desc="codes", unit="crop", file=sys.stderr) as bar:
        for batch in data:
            symbols = networks.analysis((batch + 1.0) / 2.0)
            batches.append(networks.quantizer.dequantize(symbols).numpy())
            done += len(symbols)
            bar.update(len(symbols))
            if done >= count:
                break
    return np.concatenate(batches)[:count]


def main(argv: list[str] | None = None) -> int:
    from tfgc.codec import load_codec
    from tfgc.prior import save_prior

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="GC model (default: the bundled one)")
    parser.add_argument("--images", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--crop", type=int, default=128, help="crop side (code side x stride)")
    parser.add_argument("--scale-to", type=int, default=512)
    parser.add_argument("--codes", type=int, default=512)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--latent-dim", type=int, default=128)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--num-upsamplings", type=int, default=2)
    parser.add_argument("--d-steps", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    tf.keras.utils.set_random_seed(args.seed)
    codec = load_codec(args.model)
    networks = codec.networks
    codes = collect_codes(networks, args.images, args.crop, args.codes, args.scale_to,
                          args.seed)
    generator = CodePriorGenerator(codes.shape[1:], networks.quantizer.centers_list,
                                   args.latent_dim, args.width, args.num_upsamplings)
    critic = CodePriorCritic(args.width, args.num_upsamplings)
    gan = ImageGAN(generator, critic, "wgan_gp", args.d_steps, seed=args.seed)
    gan.compile(tf.keras.optimizers.Adam(1e-4, 0.0, 0.9), tf.keras.optimizers.Adam(1e-4, 0.0, 0.9))
    data = (tf.data.Dataset.from_tensor_slices(codes).shuffle(len(codes), seed=args.seed)
            .repeat().batch(args.batch_size, drop_remainder=True))
    start = time.time()
    history = gan.fit(data, steps_per_epoch=args.steps, epochs=1, verbose=2)
    save_prior(generator, args.out, {
        "num_upsamplings": args.num_upsamplings, "width": args.width,
        "model_fingerprint": codec.fingerprint.hex(), "codes": len(codes), "crop": args.crop,
        "steps": args.steps, "minutes": round((time.time() - start) / 60, 1),
        "final_losses": {k: float(v[-1]) for k, v in history.history.items()}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
