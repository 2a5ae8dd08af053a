"""Compiles the C core through cffi; everything else is in pyproject.toml."""

from setuptools import setup

setup(cffi_modules=["ssdk/_ffi_build.py:ffibuilder"])
