"""Image-quality metrics with the literature's conventions: PSNR / SSIM (`psnr_ssim`), NIQE
(`niqe`), LPIPS (`lpips`), their data files, and the one scoring protocol that `evaluate`,
training validation, the training report and the interpolation sweep share (`scoring`)."""
