"""Trains a tfgc model.

    python train.py --config=configs/tiny.py --workdir=runs/tiny [--config.num_steps=2000]

Rerunning the same command resumes from the latest checkpoint in --workdir.
"""

import sys

from absl import flags
from ml_collections import config_flags

from tfgc.errors import TfgcError
from tfgc.utils import absl_app

config_flags.DEFINE_config_file("config", "configs/tiny.py", "Experiment config file.",
                                lock_config=True)
flags.DEFINE_string("workdir", None, "Checkpoints, TensorBoard events, samples, config.")
flags.mark_flags_as_required(["workdir"])
FLAGS = flags.FLAGS


def main(argv):
    del argv
    from tfgc.training.trainer import train

    try:
        train(FLAGS.config, FLAGS.workdir)
    except TfgcError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    absl_app.run(main)
