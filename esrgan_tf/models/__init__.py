"""The networks (Keras 3, NHWC float32 RGB in [0, 1]): the generators `rrdbnet.RRDBNet`
(ESRGAN), `srresnet.SRResNet` (SRGAN) and `srvgg.SRVGGNetCompact` (Real-ESRGAN's compact net),
each with its `Descriptor` (`descriptor`); the discriminators (`discriminators`, with
`spectral_norm`); the perceptual losses' feature networks (`features`); their config
(`config`, light) and `builders` (config -> networks)."""
