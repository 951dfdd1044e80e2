"""Packages are found, not listed: every folder of nwb_cascade/ with an __init__.py ships (pyproject.toml holds the
rest of the build's configuration).  spec/ (the ndx-cascade YAML, kept at the top of the repository by NWB
convention) ships inside the package as nwb_cascade.spec."""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["nwb_cascade", "nwb_cascade.*"]) + ["nwb_cascade.spec"],
    package_dir={"nwb_cascade.spec": "spec"},
)
