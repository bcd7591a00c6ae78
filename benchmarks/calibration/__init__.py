"""Calibration: measurements whose result is a library constant (the tile context of RRDBNet,
`esrgan_tf.models.rrdbnet.RRDB_CONTEXT`)."""
