"""Data preparation and input pipelines: MATLAB bicubic resizing, TFRecord shards, tf.data."""
