"""absl's `app.run` for tfgc's commands, with TensorFlow's eager context intact.

The defect (seen with TensorFlow 2.14.1 and absl-py 2.5.1):
1. `import tensorflow` imports `tensorflow.python.eager.context` (tensorflow/__init__.py:38)
   before it sets TF2_BEHAVIOR=1 (line 42), so the default execution mode starts as graph mode.
2. Later in the same import, `tf.__internal__` imports
   `tensorflow/python/distribute/combinations.py`, which calls
   `absl.app.call_after_init(_set_total_phsyical_gpus)`; that callback creates TF's context.
3. absl runs such a callback at once if `app.run` has already initialised, i.e. when
   TensorFlow is first imported inside `main`. The context is created in graph mode: its
   thread-local context-switch stack lacks the eager entry, in every thread, for good;
   `enable_v2_behavior()` (tensorflow/__init__.py:402) then turns eager mode on but keeps it.
4. So `tf.compat.v1.executing_eagerly_outside_functions()` is False inside every FuncGraph (a
   `tf.function` being traced, Keras' graph), and TF silently builds something else:
   * `tensor == tensor` in a traced function is Python identity (`False`), not an Equal op:
     export.py's SavedModels refused every file with in-file context tables;
   * `tf.keras.Input` is a graph placeholder, not a KerasTensor, so functional models fail:
     `VGG19(weights=None)` raises "'SymbolicTensor' object has no attribute 'node'".
A process that starts with TF2_BEHAVIOR=1 in its environment is unaffected (step 1 starts in
eager mode), and `import tensorflow` puts it into os.environ: every child of a process that
imported TF (a test spawning train.py or export.py) inherits it and hides the defect, which
is why tests launched from pytest passed while the same commands typed in a shell failed.

Smallest reproduction (prints False; True without app.run, with TF imported first, or with
TF2_BEHAVIOR=1 set):

    from absl import app

    def main(_):
        import tensorflow as tf
        print(bool(tf.function(lambda a, b: a == b)(tf.constant(1), tf.constant(1))))

    app.run(main)

`run` imports TensorFlow before absl initialises, so the callback is queued and runs after
the context exists, and checks the context before `main`; library code whose graphs depend on
it calls `check_eager_context` so a program of the user's own gets a clear error instead.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from absl import app, flags, logging

from tfgc.errors import TensorFlowStateError
from tfgc.utils.logs import show_tensorflow_log


def eager_context_is_intact() -> bool:
    """Whether graphs traced in this process see eager execution outside them."""
    import tensorflow as tf

    with tf.__internal__.FuncGraph("tfgc_eager_probe").as_default():
        return tf.compat.v1.executing_eagerly_outside_functions()


def check_eager_context() -> None:
    """Raises `TensorFlowStateError` if this process's TF would build wrong graphs."""
    if not eager_context_is_intact():
        raise TensorFlowStateError(
            "TensorFlow was first imported inside absl's app.run, which leaves its eager "
            "context half set up (graphs and Keras models would be built wrong): import "
            "tensorflow before app.run, or start the program with tfgc.utils.absl_app.run")


def _verbosity_asked(argv: list[str]) -> int | None:
    """absl's --verbosity (-v) if the command line gives it, read before TensorFlow starts."""
    only_verbosity = flags.FlagValues()
    flags.DEFINE_integer("verbosity", None, "", short_name="v", flag_values=only_verbosity)
    try:
        only_verbosity(list(argv), known_only=True)
    except flags.Error:
        return None  # app.run reports it
    return only_verbosity.verbosity


def run(main: Callable[[list[str]], int | None]) -> None:
    """`absl.app.run(main)` with TensorFlow imported first (see the module docstring), and
    quiet: absl's log stays at WARNING and TF's C++ log at FATAL unless --verbosity is given
    (app.run would raise absl's to INFO, which prints TF's SavedModel-writing chatter).
    --verbosity=0 shows TF's whole log, -1 from warnings, -2 from errors."""
    verbosity = _verbosity_asked(sys.argv)
    if verbosity is not None:
        show_tensorflow_log(-verbosity)
    logging.use_absl_handler()  # before TF's logger looks for one, or it adds its own (twice)
    import tensorflow  # noqa: F401  before app.run initialises absl: this is the guard

    def checked_main(argv: list[str]) -> int | None:
        if not eager_context_is_intact():
            raise RuntimeError("TensorFlow's eager context is broken despite importing it "
                               "before app.run: see tfgc/utils/absl_app.py")
        if verbosity is None:
            logging.set_verbosity(logging.WARNING)
        return main(argv)

    app.run(checked_main)
