"""Pictures that explain themselves: image panels side by side, each under its title.

A strip is the panels (HxWx3 uint8, one height) left to right, separated by white columns,
under a white band where each panel's title lines are centred above it: the method, then
its numbers (`metric_lines`: PSNR-Y, NIQE). A panel narrower than its title gets white
margins, so the text never overlaps; the panels' pixels are copied unchanged. The font is
the one Pillow ships (`ImageFont.load_default`), sized from the panels' width.
"""

import numpy as np
from PIL import Image, ImageDraw, ImageFont

STRIP_GAP = 4  # white columns between panels
_MARGIN = 3  # pixels around the title text
_MIN_FONT, _MAX_FONT = 9, 18


def metric_lines(psnr_y=None, niqe=None):
    """A panel's number lines: "PSNR-Y 29.20 dB", "NIQE 7.19"; a value of None (no
    reference, or an image too small for NIQE) is left out."""
    lines = []
    if psnr_y is not None:
        lines.append(f"PSNR-Y {psnr_y:.2f} dB")
    if niqe is not None:
        lines.append(f"NIQE {niqe:.2f}")
    return lines


def _font(size):
    try:
        return ImageFont.load_default(size)
    except (ImportError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def labelled_strip(panels, titles, gap=STRIP_GAP):
    """The panels side by side under their titles, as one HxWx3 uint8 image.

    Args:
        panels: HxWx3 uint8 arrays of one height.
        titles: one sequence of text lines per panel (the first is its name).
        gap: white columns between panels.
    """
    if not panels or len(panels) != len(titles):
        raise ValueError(f"{len(panels)} panel(s) for {len(titles)} title(s)")
    height = panels[0].shape[0]
    if any(p.shape[0] != height or p.ndim != 3 or p.shape[2] != 3 for p in panels):
        raise ValueError(
            f"panels must be HxWx3 of one height, got {[tuple(p.shape) for p in panels]}"
        )
    size = int(np.clip(min(p.shape[1] for p in panels) // 12, _MIN_FONT, _MAX_FONT))
    font = _font(size)
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    line_height = size + 3
    lines = max(len(t) for t in titles)
    band = lines * line_height + 2 * _MARGIN
    widths = [
        max([p.shape[1]] + [int(measure.textlength(line, font=font)) + 2 * _MARGIN for line in t])
        for p, t in zip(panels, titles)
    ]
    strip = Image.new("RGB", (sum(widths) + gap * (len(panels) - 1), band + height), "white")
    draw = ImageDraw.Draw(strip)
    left = 0
    for panel, title, width in zip(panels, titles, widths):
        strip.paste(Image.fromarray(panel), (left + (width - panel.shape[1]) // 2, band))
        for row, line in enumerate(title):
            text_width = measure.textlength(line, font=font)
            xy = (left + (width - text_width) / 2, _MARGIN + row * line_height)
            draw.text(xy, line, fill="black", font=font)
        left += width + gap
    return np.asarray(strip)
