"""Training: the step (`trainer`), the loop and its periodic actions (`loop`), a run's
checkpoints, validation, optimisation, distribution, and two-stage runs (`stages`)."""
