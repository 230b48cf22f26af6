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


FRONT_NODE = "/front/"      # torch.onnx names the front-end module's nodes /front/...
FRONT_WEIGHT = "front."     # and its fixed tensors front.kernel (STFT) and front.fb (filterbank)



def save_checked(model, outdir: Path) -> str:
    """Checks an ONNX model, writes it as outdir/model.onnx and returns the file's sha256 (the
    value a manifest's `sha256` or `members` entry records). Shared with extract_member.py."""
    onnx.checker.check_model(model)
    outdir.mkdir(parents=True, exist_ok=True)
    path = outdir / "model.onnx"
    onnx.save(model, str(path))
    return hashlib.sha256(path.read_bytes()).hexdigest()

def _canonical(node, prefix):
    """A node's bytes with its member prefix removed, to compare two members' nodes."""
    copy = onnx.NodeProto()
    copy.CopyFrom(node)
    strip = lambda n: n[len(prefix):] if n.startswith(prefix) else n
    copy.name = strip(copy.name)
    copy.input[:] = [strip(n) for n in copy.input]
    copy.output[:] = [strip(n) for n in copy.output]
    return copy.SerializeToString()


def share_front_end(member_nodes, member_initializers, prefixes):
    """Drop every secondary member's front end and feed its body from the primary's.

    The front end (STFT as a fixed convolution, filterbank, log, mean removal) has no trained
    weights, so it is the same computation in every member exported by export.py; doing it once
    leaves each member's score bit for bit unchanged. That is checked, not assumed: the nodes and
    fixed tensors must match byte for byte after removing the member prefix, or the build stops
    (a member with another front end, such as train.py --denoise, cannot share)."""
    def front(nodes, p):
        return [n for n in nodes if n.name.startswith(p + FRONT_NODE)]

    def boundary(nodes, p):
        produced = {o for n in front(nodes, p) for o in n.output}
        used = {i for n in nodes if not n.name.startswith(p + FRONT_NODE) for i in n.input}
        crossing = sorted(produced & used)
        if len(crossing) != 1:
            raise SystemExit(f"member {p[0]}: expected one tensor from the front end to the body, found {crossing}")
        return crossing[0]

    p0 = prefixes[0]
    primary_front = [_canonical(n, p0) for n in front(member_nodes[0], p0)]
    primary_weights = {t.name[len(p0):]: t.SerializeToString().replace(t.name.encode(), b"")
                       for t in member_initializers[0] if t.name.startswith(p0 + FRONT_WEIGHT)}
    if not primary_front or not primary_weights:
        raise SystemExit("the primary has no /front/ nodes or front.* tensors to share")
    shared = boundary(member_nodes[0], p0)
    nodes_out, inits_out = [member_nodes[0]], [member_initializers[0]]
    for nodes, inits, p in zip(member_nodes[1:], member_initializers[1:], prefixes[1:]):
        weights = {t.name[len(p):]: t.SerializeToString().replace(t.name.encode(), b"")
                   for t in inits if t.name.startswith(p + FRONT_WEIGHT)}
        if [_canonical(n, p) for n in front(nodes, p)] != primary_front or weights != primary_weights:
            raise SystemExit(f"member {p[0]}: front end differs from the primary's; build without --share-front-end")
        own = boundary(nodes, p)
        body = []
        for n in nodes:
            if n.name.startswith(p + FRONT_NODE):
                continue
            if own in n.input:
                copy = onnx.NodeProto()
                copy.CopyFrom(n)
                copy.input[:] = [shared if i == own else i for i in copy.input]
                n = copy
            body.append(n)
        nodes_out.append(body)
        inits_out.append([t for t in inits if not t.name.startswith(p + FRONT_WEIGHT)])
    return nodes_out, inits_out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--primary", required=True, help="model folder (model.onnx + model.json) whose embedding and OOD output are kept")
    ap.add_argument("--secondary", required=True, action="append", help="model folder of a further member (repeatable)")
    ap.add_argument("--outdir", required=True)
    ap.add_argument("--version", required=True)
    ap.add_argument("--share-front-end", action="store_true",
                    help="compute the STFT/filterbank front end once, in the primary, and feed it to every member "
                         "(refused unless the members' front ends are identical; the STFT convolution is each member's largest layer)")
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
    member_nodes = [list(g.graph.node) for g in graphs]
    member_initializers = [list(g.graph.initializer) for g in graphs]
    if args.share_front_end:
        member_nodes, member_initializers = share_front_end(member_nodes, member_initializers, prefixes)
    for member in member_nodes:
        nodes += member
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
    initializers = [t for member in member_initializers for t in member] + [weight]
    graph = helper.make_graph(
        nodes, "discern_audio_ensemble", [inp],
        [renamed(outs[f"{p0}score"], "score"), renamed(outs[f"{p0}embedding"], "embedding"), renamed(outs[f"{p0}ood_distance"], "ood_distance")],
        initializer=initializers,
    )
    model = helper.make_model(graph, opset_imports=list(graphs[0].opset_import), producer_name="discern training/audio/ensemble.py")
    model.ir_version = graphs[0].ir_version
    outdir = Path(args.outdir)
    sha = save_checked(model, outdir)
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
    onnx_path = outdir / "model.onnx"
    print(f"wrote {onnx_path} ({onnx_path.stat().st_size / 1e6:.2f} MB) sha256 {sha}; run eval-audio --calibrate to measure it")


if __name__ == "__main__":
    main()
