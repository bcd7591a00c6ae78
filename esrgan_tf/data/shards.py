"""Sharded TFRecord files, written in a planned order, atomically, and resumably.

Records are numbered 0 .. total-1 in input order and record r belongs to shard
floor(r * num_shards / total): the assignment depends only on the inputs, never on which worker
finished first, and every shard gets the same number of records give or take one.

Each shard is written to a temporary file, fsynced and renamed (`esrgan_tf.atomic`), then
recorded in ``.prepare-state.json`` together with its sha256 and the fingerprint of the run's
inputs and settings. A later run with the same fingerprint keeps every recorded shard whose
bytes still match and rewrites the rest; a different fingerprint starts over. A crash can
therefore leave temporary files (removed by the next run) but never a shard with a final name
and wrong content.

TensorFlow is imported only when a shard is opened: this module is also imported by the
data-preparation worker processes, which should not pay for it.
"""

import bisect
import dataclasses
import hashlib
import json
import re

from esrgan_tf import atomic, files

STATE_FILE = ".prepare-state.json"


@dataclasses.dataclass(frozen=True)
class Plan:
    """Which records exist (``counts[i]`` for input i) and which shard each goes to."""

    counts: tuple[int, ...]
    num_shards: int

    def __post_init__(self):
        starts = [0]
        for count in self.counts:
            starts.append(starts[-1] + count)
        total = starts[-1]
        # Never more shards than records, so that no shard is planned empty.
        num_shards = max(1, min(self.num_shards, total)) if total else 0
        object.__setattr__(self, "num_shards", num_shards)
        object.__setattr__(self, "starts", tuple(starts[:-1]))
        object.__setattr__(self, "total", total)
        object.__setattr__(
            self, "bounds", tuple(k * total // num_shards for k in range(1, num_shards + 1))
        )
        object.__setattr__(self, "bounds", (0,) + self.bounds)

    def shard_of(self, record):
        return bisect.bisect_right(self.bounds, record) - 1

    def shards_of_input(self, index):
        """The shards holding input ``index``'s records (empty for an input without any)."""
        start, count = self.starts[index], self.counts[index]
        if not count:
            return range(0)
        return range(self.shard_of(start), self.shard_of(start + count - 1) + 1)


def fingerprint(*parts):
    """sha256 of JSON-serialisable ``parts``: equal fingerprints mean equal shard contents."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _size_and_sha256(path):
    digest = hashlib.sha256()
    with files.open_file(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return files.size(path), digest.hexdigest()


class ShardWriter:
    """Writes the planned shards one after another as records arrive in input order.

    Use as a context manager; call `add` for every input that has records in an unfinished
    shard, in input order, then `finish`. ``done`` maps shard index → its manifest entry, for the
    shards kept from an earlier run and those finished since.
    """

    def __init__(self, output_dir, prefix, plan, run_fingerprint):
        self.output_dir = output_dir
        self.plan = plan
        self.names = [
            f"{prefix}-{k:05d}-of-{plan.num_shards:05d}.tfrecord" for k in range(plan.num_shards)
        ]
        self._fingerprint = run_fingerprint
        atomic.remove_temporary_files(output_dir)
        self._remove_stale_shards(prefix)
        self.done = self._verified_shards()
        self._pending = {
            k: {"records": 0, "inputs": {}} for k in range(plan.num_shards) if k not in self.done
        }
        self._next = 0  # Shards below this are finished (or kept).
        self._open_shard = None
        self._writer = None
        self._tmp = None

    def _path(self, name):
        return files.join(self.output_dir, name)

    def _remove_stale_shards(self, prefix):
        # Shards of an earlier run with another shard count would be read along with ours.
        pattern = re.compile(re.escape(prefix) + r"-\d{5}-of-\d{5}\.tfrecord")
        for name in files.listdir(self.output_dir):
            if pattern.fullmatch(name) and name not in self.names:
                files.remove(self._path(name))

    def _verified_shards(self):
        try:
            state = json.loads(files.read_text(self._path(STATE_FILE)))
        except (OSError, ValueError):
            return {}
        if state.get("fingerprint") != self._fingerprint:
            return {}
        done = {}
        for key, entry in state.get("shards", {}).items():
            k, path = int(key), self._path(entry["file"])
            if (
                k < len(self.names)
                and entry["file"] == self.names[k]
                and files.isfile(path)
                and _size_and_sha256(path) == (entry["bytes"], entry["sha256"])
            ):
                done[k] = entry
        return done

    def _save_state(self):
        state = {
            "fingerprint": self._fingerprint,
            "shards": {str(k): entry for k, entry in sorted(self.done.items())},
        }
        atomic.write_bytes(self._path(STATE_FILE), json.dumps(state, indent=1).encode())

    def _finish_below(self, record):
        """Finishes every unfinished shard that ends at or before ``record``."""
        while self._next < self.plan.num_shards and self.plan.bounds[self._next + 1] <= record:
            if self._next in self._pending:
                self._finish(self._next)
            self._next += 1

    def _open(self, k):
        if self._open_shard == k:
            return
        self._finish_below(self.plan.bounds[k])
        import tensorflow as tf  # pylint: disable=import-outside-toplevel

        self._tmp = atomic.temporary_path(self._path(self.names[k]))
        self._writer = tf.io.TFRecordWriter(self._tmp)
        self._open_shard = k

    def _finish(self, k):
        if self._open_shard == k:
            self._writer.close()
            tmp = self._tmp
            self._writer, self._open_shard, self._tmp = None, None, None
        else:  # Every input of this shard failed to decode: an empty shard, still complete.
            tmp = atomic.temporary_path(self._path(self.names[k]))
            with files.open_file(tmp, "wb"):
                pass
        size, sha256 = _size_and_sha256(tmp)
        atomic.commit(tmp, self._path(self.names[k]))
        pending = self._pending.pop(k)
        self.done[k] = {
            "file": self.names[k],
            "records": pending["records"],
            "bytes": size,
            "sha256": sha256,
            "inputs": pending["inputs"],
        }
        self._save_state()

    def add(self, key, index, records, info):
        """Writes input ``index``'s records and remembers ``info`` about it in its shards.

        Args:
          key: the input's name in the shards' ``inputs`` (its source id).
          index: the input's position in the plan.
          records: (sub-image number within the input, serialized record), increasing numbers.
          info: JSON-serialisable facts about the input, e.g. {"status": "ok", ...}; each shard
            stores them with the number of the input's records it holds as ``sub_images``.
        """
        start = self.plan.starts[index]
        counts = {}
        for j, serialized in records:
            k = self.plan.shard_of(start + j)
            self._open(k)
            self._writer.write(serialized)
            self._pending[k]["records"] += 1
            counts[k] = counts.get(k, 0) + 1
        for k in self.plan.shards_of_input(index):
            if k in self._pending:
                self._pending[k]["inputs"][key] = dict(info, sub_images=counts.get(k, 0))
        self._finish_below(start + self.plan.counts[index])

    def input_results(self, key, index):
        """``info`` dicts stored for an input by the shards holding its records."""
        return [
            self.done[k]["inputs"][key]
            for k in self.plan.shards_of_input(index)
            if key in self.done.get(k, {}).get("inputs", {})
        ]

    def finish(self):
        self._finish_below(self.plan.total)
        if self._pending:
            raise RuntimeError(f"shards {sorted(self._pending)} were never completed")

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if self._writer is not None:  # Interrupted: drop the half-written shard.
            self._writer.close()
            files.remove(self._tmp)
            self._writer, self._open_shard, self._tmp = None, None, None
        return False
