"""Starts a real hobbitd on a free port with the tiny test model for the client tests.

HOBBITD names the binary (default: <repo>/build/bin/hobbitd); HOBBIT_TEST_MODEL the model
(default: the tiny Mixtral fixture). Tests skip, saying why, when either is missing.
"""
import os
import pathlib
import re
import subprocess
import sys
import threading
import time

import pytest

CLIENT_DIR = pathlib.Path(__file__).resolve().parents[1]
REPO = CLIENT_DIR.parents[1]
sys.path.insert(0, str(CLIENT_DIR))

if not (CLIENT_DIR / "hobbit_client" / "proto" / "hobbit_pb2.py").exists():
    import generate_stubs  # noqa: E402  (the stubs are generated, never committed)

    generate_stubs.generate()

HOBBITD = pathlib.Path(os.environ.get("HOBBITD", REPO / "build" / "bin" / "hobbitd"))
MODEL = pathlib.Path(os.environ.get("HOBBIT_TEST_MODEL",
                                    REPO / "tests" / "fixtures" / "hf_tiny" / "mixtral" / "model-f32.gguf"))


class Daemon:
    def __init__(self):
        self.process = subprocess.Popen(
            [str(HOBBITD), "--model", str(MODEL), "--listen", "127.0.0.1:0",
             "--metrics-listen", "127.0.0.1:0"],
            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, cwd=REPO)
        self.log = []
        self.address = None
        ready = threading.Event()

        def read():
            for line in self.process.stderr:
                self.log.append(line)
                match = re.search(r"listening on (127\.0\.0\.1:\d+)", line)
                if match:
                    self.address = match.group(1)
                if line.rstrip().endswith("hobbitd: serving"):
                    ready.set()
            ready.set()

        self.reader = threading.Thread(target=read, daemon=True)
        self.reader.start()
        if not ready.wait(60) or self.address is None or self.process.poll() is not None:
            self.stop()
            raise RuntimeError("hobbitd did not start:\n" + "".join(self.log))

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()
        return self.process.wait(30)


@pytest.fixture(scope="session")
def daemon():
    if not HOBBITD.exists():
        pytest.skip(f"{HOBBITD} is not built (cmake --build build --target hobbitd, or set HOBBITD)")
    if not MODEL.exists():
        pytest.skip(f"{MODEL} is missing (tests/fixtures/hf_tiny/make_hf_tiny.py makes it)")
    d = Daemon()
    yield d
    assert d.stop() == 0, "".join(d.log)
