"""Choosing the tf.distribute strategy: TPU, multi-worker, multi-GPU or (logical) CPUs."""

import json
import os

import tensorflow as tf


def split_cpu(num_devices):
    """Split the physical CPU into `num_devices` logical devices.

    Must run before TensorFlow initialises its runtime; if it already has, the
    existing logical devices are kept (a warning says so when they differ).
    """
    cpus = tf.config.list_physical_devices("CPU")
    try:
        tf.config.set_logical_device_configuration(
            cpus[0], [tf.config.LogicalDeviceConfiguration()] * num_devices
        )
    except RuntimeError as e:
        have = len(tf.config.list_logical_devices("CPU"))
        if have < num_devices:
            raise ValueError(
                f"TensorFlow is already initialised with {have} logical CPU "
                f"device(s); cannot split into {num_devices}"
            ) from e


def multi_worker():
    """True when TF_CONFIG names a cluster (one process of a multi-worker job)."""
    return bool(json.loads(os.environ.get("TF_CONFIG", "{}") or "{}").get("cluster"))


_TPU_STRATEGIES = {}


def tpu_strategy(tpu):
    """`TPUStrategy` on the TPU named `tpu` ('local': the TPU VM this process runs on; a
    name or grpc:// address: a Cloud TPU, which `TPUClusterResolver` finds). Connects to it
    and initialises its TPU system, once per process.

    Raises:
        ValueError: no such TPU is reachable (one line saying which and what was tried).
    """
    if tpu in _TPU_STRATEGIES:  # initialising again would wipe the TPU's memory
        return _TPU_STRATEGIES[tpu]
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
        if tpu != "local":  # a TPU VM's own chips need no connection
            tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (
        ValueError,
        RuntimeError,
        OSError,
        tf.errors.OpError,
    ) as e:  # OSError: no metadata server
        raise ValueError(
            f"--tpu={tpu}: no TPU reachable ({str(e).splitlines()[0] if str(e) else type(e)}); "
            "on a Cloud TPU VM use --tpu=local, else the TPU's name (TPUClusterResolver)"
        ) from e
    _TPU_STRATEGIES[tpu] = tf.distribute.TPUStrategy(resolver)
    return _TPU_STRATEGIES[tpu]


def make_strategy(num_cpu_devices=1, tpu=""):
    """TPUStrategy with `tpu`; MultiWorkerMirroredStrategy when TF_CONFIG names a cluster;
    else MirroredStrategy.

    MirroredStrategy uses every local GPU; without GPUs it would silently fall
    back to one device, so on CPU we list the (logical) CPU devices explicitly.
    """
    if tpu:
        return tpu_strategy(tpu)
    if multi_worker():
        return tf.distribute.MultiWorkerMirroredStrategy()
    if tf.config.list_physical_devices("GPU"):
        return tf.distribute.MirroredStrategy()
    if num_cpu_devices > 1:
        split_cpu(num_cpu_devices)
    devices = [d.name for d in tf.config.list_logical_devices("CPU")][: max(num_cpu_devices, 1)]
    # Collective all-reduce between logical CPUs can pair up the wrong collectives when
    # a step has several (gradient sums plus the loss means of RaGAN/DP) and abort
    # with a shape mismatch; reducing through one device has no such ordering issue.
    return tf.distribute.MirroredStrategy(
        devices, cross_device_ops=tf.distribute.ReductionToOneDevice()
    )


def is_tpu(strategy):
    return isinstance(strategy, tf.distribute.TPUStrategy)


def is_chief(strategy):
    """True on the worker that writes checkpoints and summaries."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if is_tpu(strategy) or resolver is None or not resolver.cluster_spec().as_dict():
        return True
    return resolver.task_type in (None, "chief") or (
        resolver.task_type == "worker"
        and resolver.task_id == 0
        and "chief" not in resolver.cluster_spec().as_dict()
    )


def worker_info(strategy):
    """(number of workers, this worker's index) for input sharding; (1, 0) locally and on a
    TPU (one process drives all of a TPU's hosts and feeds every replica)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if is_tpu(strategy) or resolver is None:
        return 1, 0
    spec = resolver.cluster_spec().as_dict()
    chiefs = len(spec.get("chief", []))
    num_workers = chiefs + len(spec.get("worker", []))
    if num_workers <= 1:
        return 1, 0
    index = 0 if resolver.task_type == "chief" else resolver.task_id + chiefs
    return num_workers, index
