"""Generate the ndx-cascade extension's YAML (ndx-template convention).

Run ``python spec/create_extension_spec.py`` after changing a type here; commit the
two YAML files it writes beside itself.  The package loads them at import time.
"""

from pathlib import Path

from pynwb.spec import NWBAttributeSpec, NWBDatasetSpec, NWBGroupSpec, NWBLinkSpec, NWBNamespaceBuilder, export_spec

NAME = "ndx-cascade"
VERSION = "0.2.0"


def provenance(what: str, when: str) -> list[NWBAttributeSpec]:
    """The provenance attributes every output type of the extension carries: which package version made it, from
    which file and series, read from where (path or URL, DANDI ids), of which session, and when."""
    return [
        NWBAttributeSpec(name="package_version", doc=f"Version of nwb-cascade that {what}.", dtype="text"),
        NWBAttributeSpec(name="source_identifier", doc="identifier of the NWB file that held the source series.",
                         dtype="text"),
        NWBAttributeSpec(name="source_series_path", doc="Path of the source series in that file.", dtype="text"),
        NWBAttributeSpec(name="source_url", doc="Where the source file was read from (path or URL).", dtype="text",
                         required=False),
        NWBAttributeSpec(name="dandiset_id", doc="DANDI dandiset of a remote source.", dtype="text", required=False),
        NWBAttributeSpec(name="dandiset_version", doc="Version of that dandiset.", dtype="text", required=False),
        NWBAttributeSpec(name="asset_id", doc="DANDI asset id of a remote source.", dtype="text", required=False),
        NWBAttributeSpec(
            name="source_ids",
            doc="Identifiers of the source session in its archive, as a JSON object (its session_id, and e.g. the "
            "Allen Brain Observatory's ophys_experiment_id, ophys_session_id, ophys_container_id); per-ROI ids "
            "such as cell_specimen_id stay in the ROI table.",
            dtype="text",
            required=False,
        ),
        NWBAttributeSpec(name="run_time", doc=f"{when} (ISO 8601, UTC).", dtype="text"),
    ]


def main() -> None:
    builder = NWBNamespaceBuilder(
        name=NAME,
        version=VERSION,
        doc="Spike rates and discrete spikes inferred from calcium imaging with Cascade (Rupprecht et al. 2021)",
        author=["nwb-cascade developers"],
        contact=["nwb-cascade developers"],
    )
    for type_name in ("RoiResponseSeries", "NWBDataInterface", "TwoPhotonSeries", "DfOverF", "Units"):
        builder.include_type(type_name, namespace="core")
    for type_name in ("DynamicTableRegion", "VectorData"):
        builder.include_type(type_name, namespace="hdmf-common")

    spike_rates = NWBGroupSpec(
        neurodata_type_def="CascadeSpikeRates",
        neurodata_type_inc="RoiResponseSeries",
        doc=(
            "Spike rates inferred by Cascade, frames x ROIs, in spikes per second (data unit 'spikes/s'), "
            "on the timing and ROIs of the RoiResponseSeries they were inferred from. Frames without a full "
            "network window (the first and last ~half window) and frames whose window touched a missing "
            "input frame are NaN."
        ),
        datasets=[
            NWBDatasetSpec(
                name="noise_levels",
                doc="Cascade noise level of each ROI's input trace: 100 * median(|diff(dF/F)|) / sqrt(frame rate).",
                dtype="float64",
                shape=[None],
                dims=["num_ROIs"],
            ),
            NWBDatasetSpec(
                name="model_noise_levels",
                doc="Noise level of the model ensemble used for each ROI (the one closest to the ROI's own).",
                dtype="float64",
                shape=[None],
                dims=["num_ROIs"],
            ),
            *[
                NWBDatasetSpec(
                    name=f"expected_{measure}",
                    doc=f"The {measure} this model is expected to reach for each ROI: the model's {measure} measured "
                    "on ground truth it was not trained on (median over held-out neurons; the paper's measure), at "
                    "the ROI's noise level (linearly interpolated between the measured levels, held at the ends). "
                    "Absent for a model without such a measurement (its folder has no expected_accuracy.csv).",
                    dtype="float64",
                    shape=[None],
                    dims=["num_ROIs"],
                    quantity="?",
                )
                for measure in ("correlation", "error", "bias")
            ],
        ],
        attributes=[
            NWBAttributeSpec(name="model_name", doc="Name of the Cascade model.", dtype="text"),
            NWBAttributeSpec(name="model_frame_rate", doc="Frame rate (Hz) the model was trained for.", dtype="float64"),
            NWBAttributeSpec(
                name="smoothing",
                doc="Standard deviation (s) of the Gaussian that smoothed the model's training target.",
                dtype="float64",
            ),
            NWBAttributeSpec(
                name="threshold_mode",
                doc="Post-processing of the network output: '0' (negatives set to 0), '1' (values below one "
                "smoothed spike's height / e set to 0 outside active stretches) or 'off' (raw output).",
                dtype="text",
            ),
        ],
    )

    discrete_spikes = NWBGroupSpec(
        neurodata_type_def="CascadeDiscreteSpikes",
        neurodata_type_inc="Units",
        doc=(
            "Discrete spikes fitted to Cascade spike rates: one row (unit) per ROI. A Units table, so that readers "
            "of spike times (pynapple's TsGroup, NWB Widgets) read it as they read spike-sorted units: spike_times "
            "(s, ragged: the frame's time; k spikes in one frame spread evenly over its interval, centred on that "
            "time), and per ROI its row of the PlaneSegmentation (rois), that row's id (roi_id) and the number of "
            "spikes (spike_count)."
        ),
        datasets=[
            NWBDatasetSpec(
                name="rois",
                neurodata_type_inc="DynamicTableRegion",
                doc="The ROI of each row, a region of the PlaneSegmentation of the source series.",
            ),
            NWBDatasetSpec(
                name="roi_id", neurodata_type_inc="VectorData", dtype="int64", quantity="?",
                doc="The id of each row's ROI in its PlaneSegmentation (the id column of that table); written since "
                "ndx-cascade 0.2.0.",
            ),
            NWBDatasetSpec(
                name="spike_count", neurodata_type_inc="VectorData", dtype="int64", doc="Number of spikes of each ROI."
            ),
        ],
    )

    results = NWBGroupSpec(
        neurodata_type_def="CascadeResults",
        neurodata_type_inc="NWBDataInterface",
        doc="Cascade spike inference for one RoiResponseSeries, with the provenance of the run.",
        groups=[
            NWBGroupSpec(name="spike_rates", neurodata_type_inc="CascadeSpikeRates", doc="The inferred spike rates."),
            NWBGroupSpec(
                name="discrete_spikes",
                neurodata_type_inc="CascadeDiscreteSpikes",
                doc="Discrete spikes fitted to the spike rates.",
                quantity="?",
            ),
            NWBGroupSpec(
                name="dff",
                neurodata_type_inc="DfOverF",
                doc="dF/F computed by nwb-cascade from the source file's fluorescence (and neuropil) series, when "
                "the file held no dF/F for this plane: the series the spikes were inferred from (see dff_recipe).",
                quantity="?",
            ),
        ],
        links=[NWBLinkSpec(name="source", target_type="RoiResponseSeries",
                           doc="The dF/F series the spikes were inferred from: the source's dF/F series, or the "
                           "dF/F in dff when it was computed from fluorescence.")],
        attributes=[
            NWBAttributeSpec(name="model_name", doc="Name of the Cascade model.", dtype="text"),
            NWBAttributeSpec(name="model_checksum", doc="SHA-256 over the model's weights.", dtype="text"),
            NWBAttributeSpec(name="model_config", doc="The model's full config.yaml.", dtype="text"),
            NWBAttributeSpec(
                name="model_reason",
                doc="Why this model was used: given by the user, or chosen for the recording's indicator (imaging "
                "plane, genotype) and frame rate.",
                dtype="text",
                required=False,
            ),
            NWBAttributeSpec(
                name="dff_recipe",
                doc="How dF/F was computed from fluorescence, as a JSON object: the fluorescence and neuropil "
                "series paths, the neuropil coefficient, the baseline method, window (s) and smoothing (frames), "
                "and the convention followed. Absent when the source held dF/F.",
                dtype="text",
                required=False,
            ),
            *provenance("ran the inference", "When the inference ran"),
        ],
    )

    denoised = NWBGroupSpec(
        neurodata_type_def="DenoisedTwoPhotonSeries",
        neurodata_type_inc="TwoPhotonSeries",
        doc=(
            "A two-photon movie denoised by self-supervised deep learning (DeepCAD-RT, Li et al. 2021/2022), "
            "on the imaging plane and timing of the TwoPhotonSeries it was computed from, with the provenance "
            "of the run: the network's weight checksum and training settings."
        ),
        links=[NWBLinkSpec(name="source", target_type="TwoPhotonSeries", quantity="?",
                           doc="The raw series, when it is in the same file.")],
        attributes=[
            NWBAttributeSpec(name="method", doc="Denoising method and network.", dtype="text"),
            NWBAttributeSpec(name="model_checksum", doc="SHA-256 over the network's weights.", dtype="text"),
            NWBAttributeSpec(name="model_settings", doc="The denoiser's training settings (JSON).", dtype="text"),
            NWBAttributeSpec(name="first_frame", doc="Index of the raw series' frame that is frame 0 here.", dtype="int64"),
            *provenance("denoised the movie", "When the denoising ran"),
        ],
    )

    export_spec(builder, [spike_rates, discrete_spikes, results, denoised], str(Path(__file__).resolve().parent))


if __name__ == "__main__":
    main()
