"""The perception-distortion plane of a network-interpolation sweep: its CSV and its plot.

Blau and Michaeli ("The Perception-Distortion Tradeoff", CVPR 2018) put distortion on the
x-axis and perceptual quality, as a no-reference index where lower is better, on the y-axis;
ESRGAN's Fig. 2 (the PIRM 2018 self-validation set) does the same with RMSE and the
perceptual index, and its regions are thresholds on RMSE. Here x is PSNR-Y and y is NIQE (one
of the two halves of PIRM's perceptual index), one point per alpha joined in alpha order.
The PSNR axis is reversed, so that less distortion is to the left as lower RMSE is in those
figures: the best corner is the bottom left in all three.

matplotlib is an optional extra (`pip install -e ".[plot]"`), imported only to draw; the CSV
never needs it.
"""

import csv
import io

from esrgan_tf import atomic
from esrgan_tf.metrics import scoring

CSV_NAME = "perception_distortion.csv"
PLOT_NAME = "perception_distortion.png"
COLUMNS = ("alpha",) + scoring.metric_keys(with_niqe=True)
MATPLOTLIB_MISSING = (
    "the perception-distortion plot needs matplotlib, which is not installed: "
    "pip install -e '.[plot]' (or pip install matplotlib); the numbers are in the CSV"
)


def plot_available():
    """Whether matplotlib can be imported."""
    try:
        import matplotlib  # noqa: F401 -- optional: the plot's only dependency
    except ImportError:
        return False
    return True


def write_csv(path, rows):
    """One row per alpha: `COLUMNS`, floats as repr (exact), '' where NIQE is undefined."""
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS)
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row[k] is None else repr(row[k]) for k in COLUMNS})
    atomic.write_text(path, buffer.getvalue())


def write_plot(path, rows, title):
    """The plane as a PNG: x PSNR-Y (reversed), y NIQE, a labelled point per alpha.

    Rows without NIQE are left out. Raises ImportError (`MATPLOTLIB_MISSING`) without
    matplotlib, ValueError when no row has NIQE.
    """
    points = [r for r in rows if r["niqe"] is not None]
    if not points:
        raise ValueError("no alpha has a NIQE value, so there is nothing to plot")
    try:
        # The object-oriented API with the Agg canvas: no pyplot state, no display needed.
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as err:
        raise ImportError(MATPLOTLIB_MISSING) from err

    figure = Figure(figsize=(6.4, 4.8), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    x = [r["psnr_y"] for r in points]
    y = [r["niqe"] for r in points]
    axes.plot(x, y, "-o", color="tab:blue")
    for row in points:
        axes.annotate(
            f"α = {row['alpha']:g}",
            (row["psnr_y"], row["niqe"]),
            textcoords="offset points",
            xytext=(6, 6),
        )
    axes.invert_xaxis()
    axes.margins(0.15)
    axes.set_xlabel("PSNR-Y (dB), reversed: less distortion to the left")
    axes.set_ylabel("NIQE (lower is better)")
    axes.set_title(title)
    axes.grid(True, alpha=0.3)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    atomic.write_bytes(path, buffer.getvalue())
