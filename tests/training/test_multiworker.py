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


def test_two_workers_train_identically_stop_together_and_resume(shards, tmp_path, repo_root):
    workdir = str(tmp_path / "run")

    # -- 3 steps: identical weights after each, chief-only writes
    first = finish(launch(workdir, shards, 3, str(tmp_path), repo_root))
    assert [r["chief"] for r in first] == [True, False]
    assert all(r["replicas"] == 2 and r["returncode"] == 0 for r in first)
    assert len(first[0]["hashes"]) == 3 and first[0]["hashes"] == first[1]["hashes"]
    assert first[0]["logs"] == first[1]["logs"]
    checkpoints = os.path.join(workdir, "checkpoints")
    assert tf.train.latest_checkpoint(checkpoints).endswith("ckpt-3")
    assert glob.glob(os.path.join(workdir, "worker_*_tmp")) == []  # scratch dirs removed
    assert len(glob.glob(os.path.join(workdir, "summaries", "train", "events.*"))) == 1
    for index in range(2):  # each worker's own input position
        assert os.path.exists(
            os.path.join(workdir, "input_state", f"worker_{index}", "ckpt-3.index")
        )

    # -- a SIGTERM to worker 1 only stops both at the same step, with a checkpoint
    run2 = tmp_path / "second"
    run2.mkdir()
    workers = launch(workdir, shards, 200, str(run2), repo_root)
    steps_file = workers[1][1] + ".steps"
    deadline = time.time() + 240
    while time.time() < deadline:
        if os.path.exists(steps_file) and len(open(steps_file).read().split()) >= 2:  # noqa: SIM115
            break
        time.sleep(0.2)
    workers[1][0].send_signal(signal.SIGTERM)
    second = finish(workers)
    assert [r["start_step"] for r in second] == [3, 3]  # resumed from the first run
    stopped = second[0]["final_step"]
    assert second[1]["final_step"] == stopped and 5 <= stopped < 200
    assert all(r["returncode"] == 143 and "stopped by SIGTERM" in r["ended"] for r in second)
    assert second[0]["hashes"] == second[1]["hashes"]
    assert tf.train.latest_checkpoint(checkpoints).endswith(f"ckpt-{stopped}")

    # -- restarted, both resume there
    run3 = tmp_path / "third"
    run3.mkdir()
    third = finish(launch(workdir, shards, stopped + 2, str(run3), repo_root))
    assert [r["start_step"] for r in third] == [stopped, stopped]
    assert [r["final_step"] for r in third] == [stopped + 2, stopped + 2]
    assert third[0]["hashes"] == third[1]["hashes"]
    # Both restored exactly the weights they had when they stopped.
    assert third[0]["restored_hash"] == third[1]["restored_hash"] == second[0]["hashes"][-1]
