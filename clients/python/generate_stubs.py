#!/usr/bin/env python3
"""Generates the hobbit.v1 Python stubs from proto/ with grpcio-tools.

The stubs are never committed: `pip install clients/python` runs this (setup.py's build_py),
and the tests run it when the stubs are missing. Run it by hand after changing the .proto:

    python3 clients/python/generate_stubs.py

Output: hobbit_client/proto/hobbit_pb2.py, hobbit_pb2.pyi and hobbit_pb2_grpc.py. The proto is
mapped to the virtual path hobbit_client/proto/hobbit.proto so the generated imports resolve
inside this package (message names keep their package, hobbit.v1).
"""
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
PROTO_DIR = HERE.parent.parent / "proto" / "hobbit" / "v1"
OUT_PACKAGE = HERE / "hobbit_client" / "proto"


def generate() -> None:
    from grpc_tools import protoc  # imported here so setup.py can import this file cheaply

    source = PROTO_DIR / "hobbit.proto"
    if not source.exists():
        raise FileNotFoundError(f"{source} not found: run from a hobbit source tree")
    OUT_PACKAGE.mkdir(parents=True, exist_ok=True)
    (OUT_PACKAGE / "__init__.py").write_text('"""Generated hobbit.v1 stubs (not committed)."""\n')
    include = pathlib.Path(protoc.__file__).resolve().parent / "_proto"
    args = [
        "grpc_tools.protoc",
        f"--proto_path=hobbit_client/proto={PROTO_DIR}",
        f"--proto_path={include}",
        f"--python_out={HERE}",
        f"--pyi_out={HERE}",
        f"--grpc_python_out={HERE}",
        "hobbit_client/proto/hobbit.proto",
    ]
    if protoc.main(args) != 0:
        raise RuntimeError("grpc_tools.protoc failed on " + str(source))


if __name__ == "__main__":
    generate()
    print(f"generated stubs in {OUT_PACKAGE}", file=sys.stderr)
