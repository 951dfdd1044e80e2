"""The ndx-cascade extension: its namespace, loaded from the packaged spec, and its Python classes.

Importing this module loads the namespace into pynwb's type map and registers
:class:`CascadeSpikeRates`, :class:`CascadeDiscreteSpikes`,
:class:`CascadeResults` and :class:`DenoisedTwoPhotonSeries`.  Files written with them cache the namespace, so
readers without this package still open the results.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from hdmf.common import DynamicTable
from hdmf.utils import docval, get_docval, popargs
from pynwb import get_type_map, load_namespaces, register_class
from pynwb.core import NWBDataInterface
from pynwb.ophys import DfOverF, RoiResponseSeries, TwoPhotonSeries

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


@register_class("CascadeSpikeRates", NAMESPACE)
class CascadeSpikeRates(RoiResponseSeries):
    """Spike rates inferred by Cascade (frames × ROIs, spikes/s).

    A ``RoiResponseSeries`` on the same ROIs and timing as the ΔF/F series it was
    inferred from, with what a reader needs to judge it: each ROI's noise level,
    the model noise level used for it, and the model's name, frame rate,
    smoothing and the threshold mode applied.
    """

    FIELDS = ("noise_levels", "model_noise_levels", "model_name", "model_frame_rate", "smoothing", "threshold_mode")
    __nwbfields__ = FIELDS

    @docval(
        *get_docval(RoiResponseSeries.__init__, "name", "data", "rois", "timestamps", "starting_time", "rate",
                    "description", "comments", "resolution", "conversion", "offset"),
        {"name": "unit", "type": str, "doc": "unit of data", "default": "spikes/s"},
        {"name": "noise_levels", "type": "array_data", "doc": "Cascade noise level of each ROI", "shape": (None,)},
        {"name": "model_noise_levels", "type": "array_data", "doc": "noise level of the ensemble used per ROI", "shape": (None,)},
        {"name": "model_name", "type": str, "doc": "name of the Cascade model"},
        {"name": "model_frame_rate", "type": float, "doc": "frame rate (Hz) the model was trained for"},
        {"name": "smoothing", "type": float, "doc": "sigma (s) of the model's target smoothing"},
        {"name": "threshold_mode", "type": str, "doc": "'0', '1' or 'off'"},
    )
    def __init__(self, **kwargs):
        fields = popargs(*self.FIELDS, kwargs)
        super().__init__(**kwargs)
        for name, value in zip(self.FIELDS, fields):
            setattr(self, name, value)


@register_class("CascadeDiscreteSpikes", NAMESPACE)
class CascadeDiscreteSpikes(DynamicTable):
    """Discrete spikes fitted to Cascade spike rates: one row per ROI.

    Columns: ``rois`` (a region of the source series' PlaneSegmentation),
    ``spike_times`` (seconds, ragged: one list per ROI) and ``spike_count``.
    """

    __columns__ = (
        {"name": "rois", "description": "the ROI of each row", "required": True, "table": True},
        {"name": "spike_times", "description": "spike times (s) of each ROI", "required": True, "index": True},
        {"name": "spike_count", "description": "number of spikes of each ROI", "required": True},
    )

    @docval(
        {"name": "name", "type": str, "doc": "name of this table", "default": "discrete_spikes"},
        {"name": "description", "type": str, "doc": "what the table holds",
         "default": "Discrete spikes fitted to Cascade spike rates (one row per ROI)."},
        *get_docval(DynamicTable.__init__, "id", "columns", "colnames"),
    )
    def __init__(self, **kwargs):
        super().__init__(**kwargs)


@register_class("CascadeResults", NAMESPACE)
class CascadeResults(NWBDataInterface):
    """Cascade spike inference for one ΔF/F series, with the provenance of the run.

    Holds the spike rates (:class:`CascadeSpikeRates`) and, optionally, the
    discrete spikes (:class:`CascadeDiscreteSpikes`), links to the source
    ``RoiResponseSeries``, and records the package version, the model's name,
    weight checksum and full config, where the source came from, and when the
    run took place.
    """

    PROVENANCE = ("package_version", "model_name", "model_checksum", "model_config", "model_reason",
                  "source_identifier", "source_series_path", "source_url", "dandiset_id", "dandiset_version",
                  "asset_id", "source_ids", "dff_recipe", "run_time")
    __nwbfields__ = ({"name": "spike_rates", "child": True}, {"name": "discrete_spikes", "child": True},
                     {"name": "dff", "child": True}, "source", *PROVENANCE)

    @docval(
        {"name": "name", "type": str, "doc": "name of this container"},
        {"name": "spike_rates", "type": CascadeSpikeRates, "doc": "the inferred spike rates"},
        {"name": "source", "type": RoiResponseSeries,
         "doc": "the dF/F series the spikes were inferred from (the one in dff, when it was computed)"},
        {"name": "package_version", "type": str, "doc": "nwb-cascade version"},
        {"name": "model_name", "type": str, "doc": "Cascade model name"},
        {"name": "model_checksum", "type": str, "doc": "SHA-256 over the model's weights"},
        {"name": "model_config", "type": str, "doc": "the model's config.yaml"},
        {"name": "source_identifier", "type": str, "doc": "identifier of the source NWB file"},
        {"name": "source_series_path", "type": str, "doc": "path of the source series in that file"},
        {"name": "run_time", "type": str, "doc": "when the inference ran (ISO 8601)"},
        {"name": "discrete_spikes", "type": CascadeDiscreteSpikes, "doc": "discrete spikes", "default": None},
        {"name": "dff", "type": DfOverF, "doc": "dF/F computed from fluorescence, when it was", "default": None},
        {"name": "model_reason", "type": str, "doc": "why this model was used", "default": None},
        {"name": "dff_recipe", "type": str, "doc": "how dF/F was computed from fluorescence (JSON)", "default": None},
        {"name": "source_url", "type": str, "doc": "where the source file was read from", "default": None},
        {"name": "dandiset_id", "type": str, "doc": "DANDI dandiset id", "default": None},
        {"name": "dandiset_version", "type": str, "doc": "dandiset version", "default": None},
        {"name": "asset_id", "type": str, "doc": "DANDI asset id", "default": None},
        {"name": "source_ids", "type": str, "doc": "archive ids of the source session, as JSON", "default": None},
    )
    def __init__(self, **kwargs):
        spike_rates, discrete_spikes, dff, source = popargs("spike_rates", "discrete_spikes", "dff", "source", kwargs)
        provenance = {key: kwargs.pop(key) for key in self.PROVENANCE}
        super().__init__(**kwargs)
        self.spike_rates = spike_rates
        self.discrete_spikes = discrete_spikes
        self.dff = dff
        self.source = source
        for key, value in provenance.items():
            setattr(self, key, value)


@register_class("DenoisedTwoPhotonSeries", NAMESPACE)
class DenoisedTwoPhotonSeries(TwoPhotonSeries):
    """A two-photon movie denoised with DeepCAD-RT, and the provenance of the run.

    A ``TwoPhotonSeries`` on the imaging plane and timing of its raw series, so
    segmentation tools read it like any movie; it records the method, the
    package version, the network's weight checksum and training settings
    (JSON), where the raw series came from, the raw frame its first frame
    corresponds to, and when the run took place.  ``source`` links to the raw
    series when both are in one file.
    """

    PROVENANCE = ("method", "package_version", "model_checksum", "model_settings", "source_identifier",
                  "source_series_path", "source_url", "first_frame", "run_time")
    __nwbfields__ = ("source", *PROVENANCE)

    @docval(
        *get_docval(TwoPhotonSeries.__init__),
        {"name": "method", "type": str, "doc": "denoising method and network"},
        {"name": "package_version", "type": str, "doc": "nwb-cascade version"},
        {"name": "model_checksum", "type": str, "doc": "SHA-256 over the network weights"},
        {"name": "model_settings", "type": str, "doc": "the denoiser's settings (JSON)"},
        {"name": "source_identifier", "type": str, "doc": "identifier of the NWB file of the raw series"},
        {"name": "source_series_path", "type": str, "doc": "path of the raw series in that file"},
        {"name": "first_frame", "type": int, "doc": "raw frame index of frame 0 here"},
        {"name": "run_time", "type": str, "doc": "when the denoising ran (ISO 8601)"},
        {"name": "source_url", "type": str, "doc": "where the raw file was read from", "default": None},
        {"name": "source", "type": TwoPhotonSeries, "doc": "the raw series (same file only)", "default": None},
    )
    def __init__(self, **kwargs):
        source = popargs("source", kwargs)
        provenance = {key: kwargs.pop(key) for key in self.PROVENANCE}
        super().__init__(**kwargs)
        self.source = source
        for key, value in provenance.items():
            setattr(self, key, value)
