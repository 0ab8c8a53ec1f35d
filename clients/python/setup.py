"""Generates the hobbit.v1 stubs from ../../proto, then packages them (see generate_stubs.py).

The stubs are made whenever setuptools runs this file (metadata, wheel, editable install), so
the package directory hobbit_client/proto exists for every build step.
"""
import pathlib
import sys

from setuptools import setup

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import generate_stubs  # noqa: E402

generate_stubs.generate()
setup()
