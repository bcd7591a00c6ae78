"""Every file form of a generator, in and out, one module per form: Keras `.weights.h5`,
training workdirs and checkpoints (`keras`, `workdir`), exported SavedModels (`saved_model`),
PyTorch state dicts in their key layouts (`pytorch`), ncnn `.param` + `.bin` (`ncnn`), and the
trained models installed packages bundle (`zoo`). `generators.load(path)` reads any of them
once and returns the model with its descriptor."""
