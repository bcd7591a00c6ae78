"""Inference: generator weights in every form users hold them (`weights`, `saved_models`,
`state_dicts`), tiled inference (`tiling`), image files (`upscaling`), benchmark evaluation
(`evaluation`) and network interpolation (`interpolation`)."""
