"""The ndx-cascade extension: its namespace, loaded from the packaged spec, and its Python classes.

Importing this module loads the namespace into pynwb's type map and gets the classes
:class:`CascadeSpikeRates`, :class:`CascadeDiscreteSpikes`, :class:`CascadeResults` and
:class:`DenoisedTwoPhotonSeries` generated from the spec (``spec/``).  Files written with them cache
the namespace, so readers without this package still open the results, with the same classes.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from pynwb import get_class, get_type_map, load_namespaces

NAMESPACE = "ndx-cascade"
NAMESPACE_FILE = f"{NAMESPACE}.namespace.yaml"


def spec_path() -> Path:
    """The namespace YAML: shipped inside the package (``nwb_cascade/spec``), else ``spec/`` of the source tree."""
    try:
        packaged = Path(str(resources.files("nwb_cascade.spec").joinpath(NAMESPACE_FILE)))
        if packaged.is_file():
            return packaged
    except ModuleNotFoundError:  # running from a source tree whose package-dir mapping is not installed
        pass
    return Path(__file__).resolve().parents[2] / "spec" / NAMESPACE_FILE


if NAMESPACE not in get_type_map().namespace_catalog.namespaces:
    load_namespaces(str(spec_path()))


# The classes come from the spec (as ndx-template extensions get theirs): their constructors take the spec's
# fields, their docstrings are the spec's docs, and any reader that loads the cached namespace gets the same.
CascadeSpikeRates = get_class("CascadeSpikeRates", NAMESPACE)
CascadeDiscreteSpikes = get_class("CascadeDiscreteSpikes", NAMESPACE)
CascadeResults = get_class("CascadeResults", NAMESPACE)
DenoisedTwoPhotonSeries = get_class("DenoisedTwoPhotonSeries", NAMESPACE)
