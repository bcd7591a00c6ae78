"""Markdown tables of the reports (evaluation, quickstart, export, benchmarks)."""

# How each metric is printed: the literature gives PSNR to 2 decimals, SSIM to 4.
_FORMATS = {"psnr": "{:.2f}", "ssim": "{:.4f}", "niqe": "{:.3f}", "lpips": "{:.4f}"}


def markdown(header, rows):
    """A Markdown table of `header` (column names) and `rows` (sequences of cells)."""
    lines = ["| " + " | ".join(map(str, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in rows]
    return "\n".join(lines)


def metric_cell(key, value):
    """`value` of metric `key` ("psnr_y", "ssim_rgb", ...) as the literature prints it."""
    if value is None:
        return "-"
    kind = key.split("_", 1)[0]
    return _FORMATS.get(kind, "{:.4g}").format(value)


def metrics_table(results, keys, first_column="model"):
    """Markdown table of {row name: {metric key: value}}, one column per key."""
    rows = [
        [name] + [metric_cell(k, values.get(k)) for k in keys] for name, values in results.items()
    ]
    return markdown([first_column, *keys], rows)
