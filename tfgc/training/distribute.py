"""tf.distribute strategy from a config name, and each worker's role in a multi-worker run."""

from __future__ import annotations

import tensorflow as tf

from tfgc.errors import ConfigError

DISTRIBUTIONS = ("default", "mirrored", "multi_worker")


def make_strategy(name: str, cpu_replicas: int = 1) -> tf.distribute.Strategy:
    """default: one device; mirrored: all local GPUs, or without GPUs the CPU split into
    `cpu_replicas` logical devices; multi_worker: the cluster in TF_CONFIG."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        gpus = tf.config.list_physical_devices("GPU")
        if not gpus and cpu_replicas > 1:
            _split_cpu(cpu_replicas)
        devices = ([d.name for d in tf.config.list_logical_devices("GPU")]
                   or [d.name for d in tf.config.list_logical_devices("CPU")])
        return tf.distribute.MirroredStrategy(devices)
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ConfigError(f"unknown distribution {name!r}; choose one of {', '.join(DISTRIBUTIONS)}")


def _split_cpu(count: int) -> None:
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)])
    except RuntimeError:  # TF already started its devices: keep them if they fit
        if len(tf.config.list_logical_devices("CPU")) != count:
            raise ConfigError(f"cpu_replicas={count} must be set before TensorFlow starts "
                              "(run train.py in a fresh process)") from None


def task(strategy: tf.distribute.Strategy) -> tuple[str | None, int]:
    """(task type, task id) of this process; (None, 0) outside a multi-worker cluster."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return None, 0
    return resolver.task_type, int(resolver.task_id or 0)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """TF's rule: the 'chief' task, or worker 0 when the cluster has no chief."""
    task_type, task_id = task(strategy)
    if task_type in (None, "chief"):
        return True
    cluster = strategy.cluster_resolver.cluster_spec().as_dict()
    return task_type == "worker" and task_id == 0 and "chief" not in cluster
