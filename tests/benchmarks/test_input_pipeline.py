"""Quick run of the input-pipeline benchmark on tiny shards: the JSON it writes, not its speed."""

import json

import pytest

from benchmarks.speed import input_pipeline
from esrgan_tf.data import pipeline
from esrgan_tf.data.config import TrainDataConfig


@pytest.fixture
def tiny_shards(write_shards, photo_crops):
    """f(directory, lr_scale) -> 4 astronaut crops of 64 px (LR by subsampling, if any)."""

    def make(directory, lr_scale):
        crops = photo_crops(size=64, area=256)[:4]
        return write_shards(
            directory, crops, lr=lambda hr: hr[::lr_scale, ::lr_scale], lr_scale=lr_scale
        )

    return make


def _run(tmp_path, shards, capsys):
    output = tmp_path / "results" / "input.json"
    input_pipeline.main(
        [
            f"--shards={shards}",
            "--hr_size=32",
            "--scale=4",
            "--batch_size=4",
            "--seconds=0.5",
            "--warmup_seconds=0.2",
            f"--output={output}",
        ]
    )
    printed = capsys.readouterr().out.strip().splitlines()
    with open(output, encoding="utf-8") as f:
        return json.load(f), printed


@pytest.mark.slow
def test_writes_json_with_both_modes(tmp_path, capsys, tiny_shards):
    report, printed = _run(tmp_path, tiny_shards(tmp_path / "lr", 4), capsys)
    for key in ("benchmark", "date", "hardware", "settings", "results"):
        assert key in report
    for key in ("cpu_count", "platform", "tensorflow"):
        assert report["hardware"][key]
    assert report["settings"]["hr_size"] == 32 and report["settings"]["batch_size"] == 4
    for mode in ("lr_on_the_fly", "stored_lr"):
        result = report["results"][mode]
        assert result["patches_per_second"] > 0 and result["batches"] >= 1
        assert result["patches_per_second"] == result["batches"] * 4 / result["seconds"]
    assert printed[-1].startswith("| ") and printed[-1].count("|") == 7
    assert "n/a" not in printed[-1]


@pytest.mark.slow
def test_stored_lr_is_skipped_without_stored_lr(tmp_path, capsys, tiny_shards):
    report, printed = _run(tmp_path, tiny_shards(tmp_path / "hr", 0), capsys)
    assert report["results"]["lr_on_the_fly"]["patches_per_second"] > 0
    assert "skipped" in report["results"]["stored_lr"]
    assert printed[-1].endswith("| n/a |")


def test_sample_shards_are_usable_training_data(tmp_path):
    shards = str(tmp_path / "sample")
    count = input_pipeline.build_sample_shards(
        shards, scale=4, crop_size=64, step=240, num_shards=2, max_sub_images=3
    )
    assert count == 3 and len(pipeline.shard_files(shards)) == 2
    assert pipeline.stored_lr_scale(shards) == 4
    config = TrainDataConfig(data=shards, hr_size=32, batch_size=2)
    lr, hr = next(iter(pipeline.train_dataset(config, 4)))
    assert lr.shape == (2, 8, 8, 3) and hr.shape == (2, 32, 32, 3)
