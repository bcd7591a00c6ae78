"""Measurements of esrgan_tf: speed (`speed`, run together by `run`), quality studies
(`studies`) and the calibration of library constants (`calibration`); shared timing and
report helpers in `timing`. Results go to `benchmarks/results/`."""
