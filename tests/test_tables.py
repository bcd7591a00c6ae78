"""Markdown tables: cells as the literature prints them."""

from esrgan_tf import tables


def test_metrics_table():
    text = tables.metrics_table(
        {"bicubic": {"psnr_y": 29.587, "ssim_y": 0.80834}, "psnr": {"psnr_y": 30.1}},
        ("psnr_y", "ssim_y"),
    )
    assert text.splitlines() == [
        "| model | psnr_y | ssim_y |",
        "|---|---|---|",
        "| bicubic | 29.59 | 0.8083 |",
        "| psnr | 30.10 | - |",
    ]


def test_markdown():
    assert tables.markdown(("a", "b"), [(1, "x")]) == "| a | b |\n|---|---|\n| 1 | x |"
