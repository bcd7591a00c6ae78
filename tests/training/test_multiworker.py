"""MultiWorkerMirroredStrategy end to end: two worker processes on localhost (TF_CONFIG).

Checks what multi-host training needs: both workers hold identical weights after every
step, only the chief writes checkpoints and summaries, a SIGTERM to one worker stops both
at the same step with a checkpoint, and restarted workers resume from it.
"""

import glob
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import tensorflow as tf

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "multiworker_worker.py")


@pytest.fixture(scope="module")
def shards(tmp_path_factory, photo_crops, write_shards):
    """Two shards, so that each worker reads its own file."""
    crops = photo_crops(size=48, area=192) + photo_crops(size=48, area=192, offset=(200, 0))
    return write_shards(tmp_path_factory.mktemp("mw_data"), crops, num_files=2)


def free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def launch(workdir, shards, steps, out_dir, root):
    """Starts both workers; returns [(process, report path)]."""
    cluster = {"worker": [f"localhost:{p}" for p in free_ports(2)]}
    workers = []
    for index in range(2):
        env = {
            **os.environ,
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "PYTHONPATH": root,
            "TF_CONFIG": json.dumps(
                {"cluster": cluster, "task": {"type": "worker", "index": index}}
            ),
        }
        out = os.path.join(out_dir, f"worker{index}.json")
        log = open(os.path.join(out_dir, f"worker{index}.log"), "w")  # noqa: SIM115
        workers.append(
            (
                subprocess.Popen(
                    [sys.executable, WORKER, workdir, shards, str(steps), out],
                    env=env,
                    stdout=log,
                    stderr=log,
                ),
                out,
                log,
            )
        )
    return workers


def finish(workers, timeout=300):
    reports = []
    for process, out, log in workers:
        try:
            process.wait(timeout=timeout)
        finally:
            process.kill()
            log.close()
        with open(log.name, encoding="utf-8") as f:
            tail = f.read()[-3000:]
        assert os.path.exists(out), f"worker wrote no report (exit {process.returncode}):\n{tail}"
        with open(out, encoding="utf-8") as f:
            reports.append(dict(json.load(f), returncode=process.returncode))
    return reports


@pytest.mark.slow
def test_two_workers_train_identically_stop_together_and_resume(shards, tmp_path, repo_root):
    workdir = str(tmp_path / "run")
    checkpoints = os.path.join(workdir, "checkpoints")

    # -- identical weights after every call; a SIGTERM to worker 1 only stops both at the
    # same step, with a checkpoint
    first_dir = tmp_path / "first"
    first_dir.mkdir()
    workers = launch(workdir, shards, 200, str(first_dir), repo_root)
    steps_file = workers[1][1] + ".steps"
    deadline = time.time() + 240
    while time.time() < deadline:
        if os.path.exists(steps_file) and len(open(steps_file).read().split()) >= 3:  # noqa: SIM115
            break
        time.sleep(0.2)
    workers[1][0].send_signal(signal.SIGTERM)
    first = finish(workers)
    assert [r["chief"] for r in first] == [True, False]
    assert all(r["replicas"] == 2 for r in first)
    assert [r["start_step"] for r in first] == [0, 0]
    stopped = first[0]["final_step"]
    assert first[1]["final_step"] == stopped and 3 <= stopped < 200
    assert all(r["returncode"] == 143 and "stopped by SIGTERM" in r["ended"] for r in first)
    assert len(first[0]["hashes"]) >= 3 and first[0]["hashes"] == first[1]["hashes"]
    assert tf.train.latest_checkpoint(checkpoints).endswith(f"ckpt-{stopped}")
    assert glob.glob(os.path.join(workdir, "worker_*_tmp")) == []  # scratch dirs removed
    events = os.path.join(workdir, "summaries", "train", "events.*")
    assert len(glob.glob(events)) == 1  # the chief's

    # -- restarted, both resume there and finish; each worker saved its own input position
    second_dir = tmp_path / "second"
    second_dir.mkdir()
    second = finish(launch(workdir, shards, stopped + 2, str(second_dir), repo_root))
    assert all(r["returncode"] == 0 for r in second)
    assert [r["start_step"] for r in second] == [stopped, stopped]
    assert [r["final_step"] for r in second] == [stopped + 2, stopped + 2]
    assert second[0]["hashes"] == second[1]["hashes"]
    assert second[0]["logs"] == second[1]["logs"]
    # Both restored exactly the weights they had when they stopped.
    assert second[0]["restored_hash"] == second[1]["restored_hash"] == first[0]["hashes"][-1]
    assert tf.train.latest_checkpoint(checkpoints).endswith(f"ckpt-{stopped + 2}")
    assert glob.glob(os.path.join(workdir, "worker_*_tmp")) == []
    assert len(glob.glob(events)) == 2  # one per run of the chief
    for index in range(2):
        assert os.path.exists(
            os.path.join(workdir, "input_state", f"worker_{index}", f"ckpt-{stopped + 2}.index")
        )
