"""The TPU path as far as a machine without one can check it: the strategy's selection, and
what a TPU stage defaults to. (The step compiled whole with XLA, as a TPU runs it:
test_trainer.py; the input's static shapes: tests/data/test_pipeline.py.)"""

import pytest

from esrgan_tf.data.config import TrainDataConfig
from esrgan_tf.training import distribute
from esrgan_tf.training.config import TrainConfig


@pytest.mark.parametrize("tpu", ["local", "no-such-tpu"])
def test_a_tpu_that_is_not_there_is_one_clear_error(tpu):
    # 'local' asks this machine's TPU runtime; a name asks the GCE metadata server.
    with pytest.raises(
        ValueError, match=rf"--tpu={tpu}: no TPU reachable \(.+\); on a Cloud TPU VM"
    ):
        distribute.make_strategy(tpu=tpu)


def test_a_tpu_stage_computes_in_bfloat16_unless_told():
    def stage(**kwargs):
        return TrainConfig(workdir="w", input=TrainDataConfig(data="d"), **kwargs)

    assert stage(tpu="local").precision == "bf16"
    assert stage().precision == "none"
    assert stage(tpu="local", mixed_precision="none").precision == "none"
    assert stage(mixed_precision="fp16").precision == "fp16"
