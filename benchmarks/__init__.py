"""Speed and throughput measurements of esrgan_tf, written to JSON + a Markdown table row."""
