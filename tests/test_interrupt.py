"""A release stopped by Ctrl-C (SIGINT) or a scheduler (SIGTERM), during generation or during the
audit, leaves no run folder or the previous complete one: never a half-made one."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from smotext.outputs import write_marker
from smotext.synth.demo_corpus import demo_corpus_path


def _wait_for(condition, proc, timeout=240.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return
        if proc.poll() is not None:
            pytest.fail(f"the release ended (exit {proc.returncode}) before the moment to interrupt it")
        time.sleep(0.05)
    proc.kill()
    pytest.fail("timed out waiting for the moment to interrupt")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("phase", ["generation", "audit"])
def test_interrupted_release_leaves_no_half_made_run(tmp_path, sig, phase):
    run = tmp_path / "run"
    previous = None
    if phase == "audit":  # a complete earlier run (smotext's marker) must survive a failed re-run
        run.mkdir()
        write_marker(run, "release")
        (run / "results.json").write_text(json.dumps({"format": "smotext-audit/1", "earlier": True}))
        (run / "report.html").write_text("<p>the earlier run</p>")
        previous = {p.name: p.read_bytes() for p in run.iterdir()}
    log = tmp_path / "stderr.txt"
    with open(log, "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "smotext", "release", "--corpus", str(demo_corpus_path()), "--out", str(run),
             "--n", "6", "--max-new-tokens", "12", "--bootstrap", "20", "--seed", "0", "--no-adapt-voice"],
            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=err, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    parts = lambda: [p for p in tmp_path.iterdir() if p.name.startswith(".run.part-")]
    if phase == "generation":
        _wait_for(lambda: b"decoding" in log.read_bytes(), proc)  # the decoder's progress bar has started
    else:
        _wait_for(lambda: any((p / "synthetic.csv").exists() for p in parts()), proc)  # generated; auditing
    proc.send_signal(sig)
    assert proc.wait(timeout=120) == 130, log.read_text(errors="replace")[-2000:]
    assert parts() == [] and not [p for p in tmp_path.iterdir() if ".run.old-" in p.name]
    if previous is None:
        assert not run.exists()
    else:
        assert {p.name: p.read_bytes() for p in run.iterdir()} == previous
    assert "Traceback" not in log.read_text(errors="replace")
