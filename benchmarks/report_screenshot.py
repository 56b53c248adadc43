"""Screenshot of a report's first screen in headless Chromium (Debian's chromium package).

    python benchmarks/report_screenshot.py out/demo/report.html   # -> benchmarks/results/report_first_screen.png
"""

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

out = Path(__file__).parent / "results" / "report_first_screen.png"
report = Path(sys.argv[1] if len(sys.argv) > 1 else "out/demo/report.html").resolve()
chromium = shutil.which("chromium") or sys.exit("needs Debian's chromium: apt-get install chromium")
with tempfile.TemporaryDirectory() as profile:
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--no-first-run", f"--user-data-dir={profile}",
                    f"--screenshot={out}", "--window-size=1280,1000", report.as_uri()], check=True, capture_output=True)
print(out)
