"""Titled strips (`esrgan_tf.figures`): panels unchanged, each under its own title."""

import numpy as np
import pytest
import skimage.data

from esrgan_tf import figures


def _panels():
    photo = skimage.data.astronaut()
    return [photo[:64, :80], photo[100:164, 200:264], photo[300:364, 300:312]]  # the last narrow


def _ink(region):
    return np.any(region < 250, axis=-1)


def test_panels_unchanged_in_order_under_their_titles(panel_offsets):
    panels = _panels()
    titles = [["bicubic", "PSNR-Y 27.04 dB", "NIQE 7.92"], ["gan model", "NIQE 3.10"], ["HR photo"]]
    strip = figures.labelled_strip(panels, titles)
    assert strip.dtype == np.uint8 and strip.shape[2] == 3
    offsets = panel_offsets(strip, panels)
    band = strip[: strip.shape[0] - 64]
    assert band.shape[0] >= 3 * 9  # three lines of a 9-pixel font at least
    columns = [(x, x + p.shape[1]) for x, p in zip(offsets, panels)]
    # The narrow panel got margins: its title is wider than its 12 pixels, and whole.
    last = np.flatnonzero(_ink(band[:, columns[1][1] + figures.STRIP_GAP :]).any(axis=0))
    assert last.min() > 0 and last.max() < strip.shape[1] - columns[1][1] - figures.STRIP_GAP - 1
    assert last.max() - last.min() > 2 * 12
    # Every panel has ink above it, and the gaps between columns stay white (a gap of
    # figures.STRIP_GAP at least).
    for left, right in columns:
        assert _ink(band[:, left:right]).any()
    for (_, right), (left, _) in zip(columns, columns[1:]):
        assert left - right >= figures.STRIP_GAP
        assert not _ink(strip[:, right : right + figures.STRIP_GAP]).any()
    # Three lines over the first panel, one over the HR: ink reaches lower in the first.
    rows_first = np.flatnonzero(_ink(band[:, columns[0][0] : columns[0][1]]).any(axis=1))
    rows_hr = np.flatnonzero(_ink(band[:, columns[2][0] - 8 : columns[2][1] + 8]).any(axis=1))
    assert rows_first.max() > rows_hr.max() + 9


def test_titles_are_drawn_from_their_text():
    panels = [np.full((40, 60, 3), 128, np.uint8)] * 2
    same = figures.labelled_strip(panels, [["alpha 0"], ["alpha 0"]])
    other = figures.labelled_strip(panels, [["alpha 0"], ["alpha 1"]])
    half = same.shape[1] // 2
    assert np.array_equal(same[:, :half], other[:, :half])
    assert not np.array_equal(same[:, half:], other[:, half:])
    assert np.array_equal(same[:, :30], same[:, half + 2 : half + 32])  # one title, twice


def test_metric_lines():
    assert figures.metric_lines(29.204, 7.1949) == ["PSNR-Y 29.20 dB", "NIQE 7.19"]
    assert figures.metric_lines(niqe=3.0) == ["NIQE 3.00"]
    assert figures.metric_lines() == []


def test_bad_panels_are_clear_errors():
    panels = _panels()
    with pytest.raises(ValueError, match="3 panel"):
        figures.labelled_strip(panels, [["a"], ["b"]])
    with pytest.raises(ValueError, match="one height"):
        figures.labelled_strip([panels[0], panels[1][:10]], [["a"], ["b"]])
