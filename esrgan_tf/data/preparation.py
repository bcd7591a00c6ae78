"""Dataset preparation: HR photos → sub-images → sharded TFRecords + manifest.json.

The library of `python -m esrgan_tf.prepare`; `prepare(PrepareConfig(...))` is the whole run.

Sub-images are the crops of BasicSR's ``extract_subimages`` (480 px every 240 px plus
edge-aligned last crops), the form in which ESRGAN's DIV2K + Flickr2K training data is used.
Records follow `esrgan_tf.data.records`; ``manifest.json`` lists every input (sha256, used or
why skipped), every shard (records, sha256), the settings and the totals.

Determinism: inputs come in a fixed order, their records are numbered in that order, and record
r goes to shard floor(r * num_shards / total) — balanced shards, byte-identical for the same
inputs and settings whatever the number of workers.

Interruptions: a shard is written to a temporary file (`esrgan_tf.atomic`), fsynced, renamed
when complete and then recorded with its sha256 in ``.prepare-state.json``. A re-run with the
same inputs and settings keeps the complete shards whose checksum still matches and writes only
the others.
"""

import collections
from concurrent import futures
import contextlib
import dataclasses
import itertools
import json
import math
import multiprocessing
import os
import sys
import zlib

import numpy as np
import PIL
import tqdm

import esrgan_tf
from esrgan_tf import atomic, files
from esrgan_tf.data import image_io, sources, subimages
from esrgan_tf.data import shards as shard_io

# TensorFlow (and so `records`) is imported inside functions: worker processes are spawned and
# re-import the __main__ module (`esrgan_tf.prepare`), and they should not each pay seconds and
# ~300 MB for TF.

MANIFEST_VERSION = 1
MANIFEST_FILE = "manifest.json"
HOLDOUT_DIR = "val_hr"
# Default shard size, and the rough PNG size of a photo (~half its raw bytes), for --num_shards=0.
_SHARD_BYTES = 500e6
_PNG_RATIO = 0.5


class PrepareError(Exception):
    """A run that cannot give usable output; the CLI prints it and exits with status 1."""

    exit_status = 1


# ----------------------------------------------------------------------------------------------
# Planning and running
# ----------------------------------------------------------------------------------------------


def _reads_files(config):
    """Whether the inputs are image files (folders, the bundled photos) or arrays."""
    return bool(config.input_dirs) or config.builtin == "photos"


def _photo_arrays(config):
    if config.builtin:
        return sources.skimage_photos()
    return sources.tfds_images(
        config.tfds, config.tfds_split, config.tfds_key, config.tfds_data_dir
    )


def _ordered_map(pool, fn, arg_tuples, window):
    """map(fn, ...) through ``pool`` (or inline without one), in order, ``window`` in flight."""
    if pool is None:
        yield from itertools.starmap(fn, arg_tuples)
        return
    arg_tuples = iter(arg_tuples)
    pending = collections.deque(pool.submit(fn, *a) for a in itertools.islice(arg_tuples, window))
    while pending:
        result = pending.popleft().result()
        pending.extend(pool.submit(fn, *a) for a in itertools.islice(arg_tuples, 1))
        yield result


def _progress(iterable, total, desc, config):
    return tqdm.tqdm(
        iterable,
        total=total,
        desc=desc,
        unit="image",
        file=sys.stderr,
        disable=not config.progress,
        dynamic_ncols=True,
    )


def _scan(config, pool):
    if not _reads_files(config):
        return [sources.scan_array(s, a, config.max_pixels) for s, a in _photo_arrays(config)]
    if config.builtin:
        found = sources.bundled_photo_files()
        pool = None  # a few files: spawning workers would cost more than scanning them here
    else:
        found = sources.find_image_files(
            config.input_dirs,
            exclude=(config.output_dir, files.join(config.output_dir, HOLDOUT_DIR)),
        )
    if not found:
        raise PrepareError(
            f"no image files ({' '.join(image_io.IMAGE_EXTENSIONS)}) under "
            f"{', '.join(config.input_dirs)}"
        )
    args = ((source, path, config.max_pixels) for source, path in found)
    scans = _ordered_map(pool, sources.scan_file, args, window=64)
    scans = list(_progress(scans, len(found), "scan", config))
    return _with_lr_scans(scans, config, pool) if config.lr_dirs else scans


def _with_lr_scans(scans, config, pool):
    """The HR scans with the scans of their LR images (`Scan.lr`) from ``config.lr_dirs``; an
    HR photo without one keeps ``lr=None`` (skipped by `_pair_reason`)."""
    by_stem = sources.lr_files_by_stem(config.lr_dirs)
    paths = []
    for scan in scans:
        stem = os.path.splitext(os.path.basename(scan.path))[0]
        found = [by_stem[c] for c in sources.lr_stems(stem, config.lr_scale) if c in by_stem]
        paths.append(found[0] if found else None)
    wanted = [(f"lr/{os.path.basename(p)}", p, config.max_pixels) for p in paths if p]
    lr_scans = iter(_ordered_map(pool, sources.scan_file, wanted, window=64))
    return [dataclasses.replace(s, lr=next(lr_scans) if p else None) for s, p in zip(scans, paths)]


def _pair_reason(scan, config):
    """Why an input of LR/HR pairs cannot be used ("" if it can, or the data is not paired)."""
    if not config.lr_dirs:
        return ""
    if scan.lr is None:
        stem = os.path.splitext(os.path.basename(scan.path))[0]
        return (
            f"no LR image: none of {', '.join(sources.lr_stems(stem, config.lr_scale))} "
            f"under {', '.join(config.lr_dirs)}"
        )
    if scan.lr.reason:
        return f"{scan.lr.reason.split(':')[0]} LR image: {scan.lr.path}: {scan.lr.reason}"
    s = config.lr_scale
    if (scan.lr.height, scan.lr.width) != (scan.height // s, scan.width // s):
        return (
            f"LR size: {scan.lr.path} is {scan.lr.width}x{scan.lr.height}, the photo "
            f"{scan.width}x{scan.height} needs {scan.width // s}x{scan.height // s} at x{s}"
        )
    return ""


def _plan(scans, config):
    """Skip reasons (after the size check), held-out inputs and the shard plan."""
    readable = [i for i, scan in enumerate(scans) if not scan.reason]
    holdout = frozenset(readable[len(readable) - config.holdout :] if config.holdout else ())
    reasons, counts, estimated_bytes = [], [], 0.0
    for i, scan in enumerate(scans):
        reason, count = scan.reason or _pair_reason(scan, config), 0
        if not reason and i not in holdout:
            boxes = subimages.sub_image_boxes(scan.height, scan.width, config)
            count = len(boxes)
            if not boxes:
                if min(scan.height, scan.width) < config.min_size:
                    reason = (
                        f"too small: {scan.width}x{scan.height} has a side shorter than "
                        f"--min_size={config.min_size}"
                    )
                elif config.crop_size:
                    reason = (
                        f"too small: {scan.width}x{scan.height} is smaller than a "
                        f"{config.crop_size}x{config.crop_size} crop"
                    )
                else:
                    reason = f"too small: {scan.width}x{scan.height} at scale {config.lr_scale}"
            else:
                samples = boxes[0][2] * boxes[0][3] * 3 * (1 + 1 / max(config.lr_scale, 1) ** 2)
                estimated_bytes += count * samples * scan.bit_depth / 8 * _PNG_RATIO
        reasons.append(reason)
        counts.append(count)
    num_shards = config.num_shards or max(1, math.ceil(estimated_bytes / _SHARD_BYTES))
    return reasons, holdout, shard_io.Plan(tuple(counts), num_shards)


def _tasks(config, scans, holdout, plan, done):
    """(task, config) for the photos still needed, in input order."""
    arrays = None if _reads_files(config) else (a for _, a in _photo_arrays(config))
    for i, scan in enumerate(scans):
        pixels = None if arrays is None else next(arrays)
        wanted = tuple(
            j for j in range(plan.counts[i]) if plan.shard_of(plan.starts[i] + j) not in done
        )
        if i in holdout or wanted:
            yield subimages.Task(i, scan, pixels, i in holdout, wanted), config


def _workers(config):
    return config.num_workers or os.cpu_count() or 1


def _make_pool(config):
    workers = _workers(config)
    if workers <= 1:
        return contextlib.nullcontext()
    # 'spawn': the parent has TensorFlow loaded, and forking a process with its threads running
    # can deadlock the child.
    return futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))


def _write_holdout(output_dir, scans, result, earlier):
    """Writes a held-out photo as val_hr/<name>.png; returns that path, or None if unusable."""
    if result.reason:
        return None
    folder = files.join(output_dir, HOLDOUT_DIR)
    stem = os.path.splitext(scans[result.index].source.rsplit("/", 1)[-1])[0]
    name = f"{stem}.png"
    if f"{HOLDOUT_DIR}/{name}" in {file for _, file in earlier.values()}:
        name = f"{stem}-{result.index}.png"
    files.makedirs(folder)
    atomic.write_bytes(files.join(folder, name), result.pngs[0][3])
    return f"{HOLDOUT_DIR}/{name}"


def _write_records(writer, scans, result, lr_scale):
    from esrgan_tf.data import records  # pylint: disable=import-outside-toplevel

    source = scans[result.index].source
    # deterministic=True: protobuf writes map entries (the features) in hash-table order, which
    # changes from one process to the next with Python's string-hash seed.
    serialized = [
        (
            j,
            records.make_example(
                hr, source=source, y=y, x=x, lr_png=lr, lr_scale=lr_scale if lr else 0
            ).SerializeToString(deterministic=True),
        )
        for j, y, x, hr, lr in result.pngs
    ]
    info = (
        {"status": "skipped", "reason": result.reason}
        if result.reason
        else {
            "status": "ok",
            "height": result.height,
            "width": result.width,
            "bit_depth": result.bit_depth,
        }
    )
    writer.add(source, result.index, serialized, info)


# ----------------------------------------------------------------------------------------------
# Manifest and the library entry point
# ----------------------------------------------------------------------------------------------


def _input_entry(i, scan, reason, holdout, holdout_results, writer):
    entry = {
        "source": scan.source,
        "path": scan.path,
        "bytes": scan.size_bytes,
        "sha256": scan.sha256,
        "height": scan.height,
        "width": scan.width,
        "bit_depth": scan.bit_depth,
    }
    if scan.lr is not None:
        entry.update(lr_path=scan.lr.path, lr_sha256=scan.lr.sha256)
    if i in holdout:
        result, file = holdout_results[i]
        if result.reason:
            return dict(entry, status="skipped", reason=result.reason, sub_images=0)
        return dict(
            entry,
            status="holdout",
            file=file,
            height=result.height,
            width=result.width,
            bit_depth=result.bit_depth,
            sub_images=0,
        )
    if reason:
        return dict(entry, status="skipped", reason=reason, sub_images=0)
    parts = writer.input_results(scan.source, i)
    failed = [p for p in parts if p["status"] == "skipped"]
    if failed:
        return dict(entry, status="skipped", reason=failed[0]["reason"], sub_images=0)
    return dict(
        entry,
        status="ok",
        height=parts[0]["height"],
        width=parts[0]["width"],
        bit_depth=parts[0]["bit_depth"],
        sub_images=sum(p["sub_images"] for p in parts),
    )


def _manifest(settings, software, scans, reasons, holdout, holdout_results, writer):
    inputs = [
        _input_entry(i, scan, reasons[i], holdout, holdout_results, writer)
        for i, scan in enumerate(scans)
    ]
    shards = [
        {key: entry[key] for key in ("file", "records", "bytes", "sha256")}
        for _, entry in sorted(writer.done.items())
    ]
    by_reason = collections.Counter(e["reason"].split(":")[0] for e in inputs if "reason" in e)
    statuses = collections.Counter(e["status"] for e in inputs)
    return {
        "version": MANIFEST_VERSION,
        "esrgan_tf_version": esrgan_tf.__version__,
        "settings": settings,
        "software": software,
        "totals": {
            "inputs": len(inputs),
            "ok": statuses["ok"],
            "skipped": statuses["skipped"],
            "holdout": statuses["holdout"],
            "sub_images": sum(s["records"] for s in shards),
            "shards": len(shards),
            "bytes": sum(s["bytes"] for s in shards),
            "skipped_by_reason": dict(sorted(by_reason.items())),
        },
        "shards": shards,
        "inputs": inputs,
    }


def summary(manifest):
    """One line saying what a run produced and why inputs were skipped."""
    totals = manifest["totals"]
    reasons = ", ".join(f"{n} {kind}" for kind, n in totals["skipped_by_reason"].items())
    return (
        f"{totals['sub_images']} sub-images in {totals['shards']} shards from "
        f"{totals['ok']} of {totals['inputs']} inputs; {totals['holdout']} held out; "
        f"{totals['skipped']} skipped" + (f" ({reasons})" if reasons else "")
    )


def _check_output_dir(output_dir):
    try:
        files.makedirs(output_dir)
        atomic.write_bytes(files.join(output_dir, "write-test"), b"")
        files.remove(files.join(output_dir, "write-test"))
    except OSError as e:
        raise PrepareError(f"cannot write to output folder {output_dir}: {e}") from None


def _software():
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    # The PNG and TFRecord bytes depend on these; the same versions give the same shards.
    return {
        "numpy": np.__version__,
        "pillow": PIL.__version__,
        "tensorflow": tf.__version__,
        "zlib": zlib.ZLIB_RUNTIME_VERSION,
    }


def prepare(config):
    """Writes shards, held-out PNGs and ``manifest.json`` for ``config``; returns the manifest.

    Raises:
      PrepareError: the output folder is not writable, the inputs cannot be listed, or no input
        gives a sub-image. If inputs looked usable but none could be decoded, the (empty) shards
        and the manifest with each input's skip reason are written first.
    """
    _check_output_dir(config.output_dir)
    atomic.remove_temporary_files(files.join(config.output_dir, HOLDOUT_DIR))
    settings = {
        k: v
        for k, v in dataclasses.asdict(config).items()
        if k not in ("output_dir", "num_workers", "progress")
    }
    settings["input_dirs"] = list(config.input_dirs)  # as it reads back from JSON
    settings["lr_dirs"] = list(config.lr_dirs)
    software = _software()
    holdout_results = {}
    with _make_pool(config) as pool:
        try:
            scans = _scan(config, pool)
            reasons, holdout, plan = _plan(scans, config)
            if not plan.total:  # Leave the output folder as it was (an earlier run's shards).
                kinds = collections.Counter(r.split(":")[0] for r in reasons if r)
                raise PrepareError(
                    f"nothing usable among {len(scans)} inputs ({len(holdout)} held out; "
                    + ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
                    + "): "
                    + "; ".join(f"{s.source}: {r}" for s, r in zip(scans[:20], reasons) if r)
                )
            run_fingerprint = shard_io.fingerprint(
                settings,
                software,
                plan.num_shards,
                [
                    (s.source, s.sha256, n) + ((s.lr.sha256,) if s.lr else ())
                    for s, n in zip(scans, plan.counts)
                ],
            )
            writer = shard_io.ShardWriter(config.output_dir, config.prefix, plan, run_fingerprint)
            tasks = _tasks(config, scans, holdout, plan, writer.done)
            num_tasks = len(holdout) + sum(
                any(k not in writer.done for k in plan.shards_of_input(i))
                for i in range(len(scans))
            )
            results = _ordered_map(pool, subimages.process, tasks, window=2 * _workers(config))
            with writer:
                for result in _progress(results, num_tasks, "sub-images", config):
                    if result.index in holdout:
                        holdout_results[result.index] = (
                            result,
                            _write_holdout(config.output_dir, scans, result, holdout_results),
                        )
                    else:
                        _write_records(writer, scans, result, config.lr_scale)
                writer.finish()
        except sources.SourceError as e:
            raise PrepareError(str(e)) from None
        except OSError as e:  # Inputs are read in try blocks: this is the output (disk full...).
            raise PrepareError(f"cannot write to output folder {config.output_dir}: {e}") from e
    manifest = _manifest(settings, software, scans, reasons, holdout, holdout_results, writer)
    atomic.write_bytes(
        files.join(config.output_dir, MANIFEST_FILE), json.dumps(manifest, indent=1).encode()
    )
    if manifest["totals"]["sub_images"] == 0:
        raise PrepareError(
            f"nothing usable: {summary(manifest)}; the reason for each input is "
            f"in {files.join(config.output_dir, MANIFEST_FILE)}"
        )
    return manifest
