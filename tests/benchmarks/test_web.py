"""benchmarks/speed/web.py on the smallest bundled model and a tiny crop: its rows and table
(not its speed). Skipped where Chromium or npm is missing (.ci/run installs Chromium)."""

import json
import shutil

import pytest

from benchmarks.speed import web as web_benchmark


@pytest.mark.slow
@pytest.mark.skipif(
    shutil.which("chromium") is None or shutil.which("npm") is None,
    reason="needs Chromium (apt-get install chromium) and npm",
)
def test_browser_and_python_rows_per_model(tmp_path, capsys):
    output = tmp_path / "web.json"
    web_benchmark.main(
        ["--models=realesr-animevideov3", "--lr_size=16", "--runs=1", f"--output={output}"]
    )
    result = json.loads(output.read_text())
    rows = result["results"]["realesr-animevideov3"]["rows"]
    runners = [row["runner"] for row in rows]
    assert runners[0] == "browser, wasm, 1 thread"
    assert runners[1].startswith("browser, wasm, ") and runners[1].endswith("(serve.py)")
    assert runners[2] == "upscale (TensorFlow, tf.function)"
    for row in rows:
        assert row["seconds"] > 0
        assert abs(row["s_per_lr_mp"] - row["seconds"] / (16 * 16 / 1e6)) < 1e-6
    assert result["settings"]["chromium"][0].isdigit()
    assert "| realesr-animevideov3 | browser, wasm, 1 thread |" in capsys.readouterr().out
