"""Average exported audio detectors into one ONNX graph.

    /usr/bin/python3 training/audio/ensemble.py --primary /tmp/m020 \
        --secondary /tmp/m05 [--secondary …] --outdir /tmp/ens --version 0.7.0

All members read the same `waveform` input; `score` is the mean of their probabilities.
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
    ap.add_argument("--secondary", required=True, action="append", help="model folder of a further member (repeatable)")
    ap.add_argument("--outdir", required=True)
    ap.add_argument("--version", required=True)
    args = ap.parse_args()

    primary = Path(args.primary)
    folders = [primary] + [Path(p) for p in args.secondary]
    graphs = [onnx.load(str(f / "model.onnx")) for f in folders]
    if len({g.opset_import[0].version for g in graphs}) != 1:
        raise SystemExit("members were exported with different opsets")
    (inp,) = [i for i in graphs[0].graph.input if i.name == "waveform"]
    # Every name gets its member's prefix, the input too (onnx 1.12's add_prefix renames inputs
    # whatever rename_inputs says); the shared input is then fed to each by an Identity node.
    # Names as in the two-member build that produced 0.7.0 (a_, b_, Add, "ensemble_half"), so that
    # rerunning this script reproduces the shipped file byte for byte.
    letters = "abcdefgh"
    if len(graphs) > len(letters):
        raise SystemExit(f"at most {len(letters)} members")
    prefixes = [f"{letters[k]}_" for k in range(len(graphs))]
    graphs = [compose.add_prefix(g, p) for g, p in zip(graphs, prefixes)]

    nodes = [helper.make_node("Identity", ["waveform"], [f"{p}waveform"], name=f"ensemble_input_{p[0]}") for p in prefixes]
    for g in graphs:
        nodes += list(g.graph.node)
    weight_name = "ensemble_half" if len(graphs) == 2 else "ensemble_weight"
    weight = helper.make_tensor(weight_name, onnx.TensorProto.FLOAT, [], [1.0 / len(graphs)])
    scores = [f"{p}score" for p in prefixes]
    nodes.append(helper.make_node("Add", scores, ["ensemble_sum"], name="ensemble_add") if len(graphs) == 2
                 else helper.make_node("Sum", scores, ["ensemble_sum"], name="ensemble_add"))
    nodes += [
        helper.make_node("Mul", ["ensemble_sum", weight_name], ["score"], name="ensemble_mean"),
        helper.make_node("Identity", [f"{prefixes[0]}embedding"], ["embedding"], name="ensemble_embedding"),
        helper.make_node("Identity", [f"{prefixes[0]}ood_distance"], ["ood_distance"], name="ensemble_ood"),
    ]
    outs = {o.name: o for o in graphs[0].graph.output}

    def renamed(vi, name):
        copy = onnx.ValueInfoProto()
        copy.CopyFrom(vi)
        copy.name = name
        return copy

    p0 = prefixes[0]
    initializers = [t for g in graphs for t in g.graph.initializer] + [weight]
    graph = helper.make_graph(
        nodes, "discern_audio_ensemble", [inp],
        [renamed(outs[f"{p0}score"], "score"), renamed(outs[f"{p0}embedding"], "embedding"), renamed(outs[f"{p0}ood_distance"], "ood_distance")],
        initializer=initializers,
    )
    model = helper.make_model(graph, opset_imports=list(graphs[0].opset_import), producer_name="discern training/audio/ensemble.py")
    model.ir_version = graphs[0].ir_version
    onnx.checker.check_model(model)

    outdir = Path(args.outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    onnx_path = outdir / "model.onnx"
    onnx.save(model, str(onnx_path))
    sha = hashlib.sha256(onnx_path.read_bytes()).hexdigest()
    manifests = [json.loads((f / "model.json").read_text()) for f in folders]
    manifest = dict(manifests[0])
    manifest["version"] = args.version
    manifest["sha256"] = sha
    manifest["members"] = [
        {"name": m["name"], "version": m["version"], "sha256": m["sha256"], "outputs": "score (averaged), embedding, ood_distance" if k == 0 else "score (averaged)"}
        for k, m in enumerate(manifests)
    ]
    manifest["output"]["meaning"] = "mean of the members' probabilities that the chunk is synthetic speech (higher = more likely synthetic)"
    (outdir / "model.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {onnx_path} ({onnx_path.stat().st_size / 1e6:.2f} MB) sha256 {sha}; run eval-audio --calibrate to measure it")


if __name__ == "__main__":
    main()
