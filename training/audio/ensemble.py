"""Average two exported audio detectors into one ONNX graph.

    /usr/bin/python3 training/audio/ensemble.py --primary models/audio-deepfake \
        --secondary /tmp/m05 --outdir /tmp/ens --version 0.7.0

Both members read the same `waveform` input; `score` is the mean of their probabilities.
`embedding` and `ood_distance` come from the primary member only: its out-of-distribution
statistics (mean and precision of training embeddings) were fitted on its own embedding space,
and averaging embeddings of two unrelated networks would mean nothing.

onnxruntime is not in Debian's python, so this script only builds and checks the graph; the
threshold and error rates are measured afterwards through the analyser with
`DISCERN_MODELS_DIR=<outdir-parent> node dist/bench/eval-audio.js --calibrate`, which rewrites the
manifest written here. The manifest starts from the primary's, with `members` naming both.
"""
import argparse
import hashlib
import json
from pathlib import Path

import onnx
from onnx import compose, helper


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--primary", required=True, help="model folder (model.onnx + model.json) whose embedding and OOD output are kept")
    ap.add_argument("--secondary", required=True, help="model folder of the second member")
    ap.add_argument("--outdir", required=True)
    ap.add_argument("--version", required=True)
    args = ap.parse_args()

    primary = Path(args.primary)
    secondary = Path(args.secondary)
    a = onnx.load(str(primary / "model.onnx"))
    b = onnx.load(str(secondary / "model.onnx"))
    if a.opset_import[0].version != b.opset_import[0].version:
        raise SystemExit("members were exported with different opsets")
    (inp,) = [i for i in a.graph.input if i.name == "waveform"]
    # Every name gets its member's prefix, the input too (onnx 1.12's add_prefix renames inputs
    # whatever rename_inputs says); the shared input is then fed to both by Identity nodes.
    a = compose.add_prefix(a, "a_")
    b = compose.add_prefix(b, "b_")

    half = helper.make_tensor("ensemble_half", onnx.TensorProto.FLOAT, [], [0.5])
    nodes = [
        helper.make_node("Identity", ["waveform"], ["a_waveform"], name="ensemble_input_a"),
        helper.make_node("Identity", ["waveform"], ["b_waveform"], name="ensemble_input_b"),
    ] + list(a.graph.node) + list(b.graph.node) + [
        helper.make_node("Add", ["a_score", "b_score"], ["ensemble_sum"], name="ensemble_add"),
        helper.make_node("Mul", ["ensemble_sum", "ensemble_half"], ["score"], name="ensemble_mean"),
        helper.make_node("Identity", ["a_embedding"], ["embedding"], name="ensemble_embedding"),
        helper.make_node("Identity", ["a_ood_distance"], ["ood_distance"], name="ensemble_ood"),
    ]
    outs = {o.name: o for o in a.graph.output}

    def renamed(vi, name):
        copy = onnx.ValueInfoProto()
        copy.CopyFrom(vi)
        copy.name = name
        return copy

    graph = helper.make_graph(
        nodes, "discern_audio_ensemble", [inp],
        [renamed(outs["a_score"], "score"), renamed(outs["a_embedding"], "embedding"), renamed(outs["a_ood_distance"], "ood_distance")],
        initializer=list(a.graph.initializer) + list(b.graph.initializer) + [half],
    )
    model = helper.make_model(graph, opset_imports=list(a.opset_import), producer_name="discern training/audio/ensemble.py")
    model.ir_version = a.ir_version
    onnx.checker.check_model(model)

    outdir = Path(args.outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    onnx_path = outdir / "model.onnx"
    onnx.save(model, str(onnx_path))
    sha = hashlib.sha256(onnx_path.read_bytes()).hexdigest()
    manifest = json.loads((primary / "model.json").read_text())
    member_b = json.loads((secondary / "model.json").read_text())
    manifest["version"] = args.version
    manifest["sha256"] = sha
    manifest["members"] = [
        {"name": manifest["name"], "version": json.loads((primary / "model.json").read_text())["version"], "sha256": json.loads((primary / "model.json").read_text())["sha256"], "outputs": "score (averaged), embedding, ood_distance"},
        {"name": member_b["name"], "version": member_b["version"], "sha256": member_b["sha256"], "outputs": "score (averaged)"},
    ]
    manifest["output"]["meaning"] = "mean of the two members' probabilities that the chunk is synthetic speech (higher = more likely synthetic)"
    (outdir / "model.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {onnx_path} ({onnx_path.stat().st_size / 1e6:.2f} MB) sha256 {sha}; run eval-audio --calibrate to measure it")


if __name__ == "__main__":
    main()
