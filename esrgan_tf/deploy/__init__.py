"""Deployment: SavedModel signatures for TF Serving (`serving`), TFLite variants and their
runner (`tflite`), and the checked, staged export of both (`export`)."""
