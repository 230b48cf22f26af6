"""Recover one member of an ensemble built by ensemble.py as its own exported model.

    /usr/bin/python3 training/audio/extract_member.py --ensemble models/audio-deepfake \
        --member 1 --outdir /tmp/m05

Exports are scratch files (nothing under training/data or /tmp is kept), so the shipped ensemble
is the only lasting copy of its members. ensemble.py only prefixes names (a_, b_, …) and adds a
few nodes of its own, so stripping the prefix from the nodes that compute the member's outputs
rebuilds the member graph as export.py wrote it; the result is checked against the sha256 that
the ensemble's manifest records for that member, and the script says whether it matched.
Works for ensembles built with or without --share-front-end (a member that reads the primary's
front end gets those nodes back under its own name).

The member's model.json is the ensemble's manifest with the member's name, version and sha256,
no threshold or metrics (those belonged to the ensemble), and `recovered_from` naming the source.
"""
import argparse
import json
from pathlib import Path

import onnx
from onnx import helper

from ensemble import save_checked

LETTERS = "abcdefgh"


def strip_prefix(name):
    # Every name ensemble.py gave a member starts with "<letter>_"; its own names do not.
    return name[2:] if len(name) > 2 and name[1] == "_" and name[0] in LETTERS else name


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ensemble", required=True, help="folder with the ensemble's model.onnx and model.json")
    ap.add_argument("--member", type=int, required=True, help="0 = primary, 1 = first --secondary, …")
    ap.add_argument("--outdir", required=True)
    # What torch.onnx.export (PyTorch 1.13, export.py) writes; not stored in the ensemble.
    ap.add_argument("--graph-name", default="torch_jit")
    ap.add_argument("--producer", default="pytorch")
    ap.add_argument("--producer-version", default="1.13.0")
    args = ap.parse_args()

    folder = Path(args.ensemble)
    ensemble = onnx.load(str(folder / "model.onnx"))
    manifest = json.loads((folder / "model.json").read_text())
    members = manifest.get("members") or []
    if not 0 <= args.member < len(members):
        raise SystemExit(f"the manifest lists {len(members)} members")
    prefix = f"{LETTERS[args.member]}_"

    # Walk back from the member's outputs; keep the ensemble's node order (already topological).
    producer = {o: k for k, n in enumerate(ensemble.graph.node) for o in n.output}
    wanted = [f"{prefix}{o}" for o in ("score", "embedding", "ood_distance")]
    keep, stack = set(), list(wanted)
    while stack:
        tensor = stack.pop()
        k = producer.get(tensor)
        if k is None or k in keep or ensemble.graph.node[k].name.startswith("ensemble_"):
            continue
        keep.add(k)
        stack += list(ensemble.graph.node[k].input)

    nodes = []
    for k in sorted(keep):
        node = onnx.NodeProto()
        node.CopyFrom(ensemble.graph.node[k])
        node.name = strip_prefix(node.name)
        node.input[:] = [strip_prefix(n) for n in node.input]
        node.output[:] = [strip_prefix(n) for n in node.output]
        nodes.append(node)
    needed = {i for n in nodes for i in n.input}
    # The member's own tensors, plus the primary's front-end tensors where the front end is shared.
    initializers, seen = [], set()
    all_names = {t.name for t in ensemble.graph.initializer}
    for t in ensemble.graph.initializer:
        name = strip_prefix(t.name)
        if name in needed and name not in seen and (t.name.startswith(prefix) or f"{prefix}{name}" not in all_names):
            copy = onnx.TensorProto()
            copy.CopyFrom(t)
            copy.name = name
            initializers.append(copy)
            seen.add(name)
    # With a shared front end, the front-end nodes and tensors come from the primary and sit in
    # the primary's place in the ensemble. Members of one architecture were exported in the same
    # order, so each item takes its name's position in the primary's order; an item the primary
    # lacks (a member may have a node more) stays right after its predecessor.
    def export_order(items, primary_names):
        rank = {name: k for k, name in enumerate(primary_names)}
        keys, last = [], -1.0
        for item in items:
            last = rank.get(item.name, last + 1e-3)
            keys.append(last)
        return [item for _, _, item in sorted(zip(keys, range(len(items)), items), key=lambda x: x[:2])]

    if args.member:
        nodes = export_order(nodes, [strip_prefix(n.name) for n in ensemble.graph.node if n.name.startswith("a_")])
        initializers = export_order(initializers, [strip_prefix(t.name) for t in ensemble.graph.initializer
                                                   if t.name.startswith("a_")])
    if needed - {i.name for i in ensemble.graph.input} - {t.name for t in initializers} - {o for n in nodes for o in n.output} - {""}:
        raise SystemExit("could not find every tensor the member needs")

    graph = helper.make_graph(nodes, args.graph_name, list(ensemble.graph.input), list(ensemble.graph.output),
                              initializer=initializers)
    model = helper.make_model(graph, opset_imports=list(ensemble.opset_import), producer_name=args.producer,
                              producer_version=args.producer_version)
    model.ir_version = ensemble.ir_version
    outdir = Path(args.outdir)
    sha = save_checked(model, outdir)
    entry = members[args.member]
    out = {k: v for k, v in manifest.items() if k not in ("members", "threshold", "metrics")}
    out.update(name=entry["name"], version=entry["version"], sha256=sha,
               recovered_from=f"{manifest['name']} {manifest['version']} member {args.member}")
    (outdir / "model.json").write_text(json.dumps(out, indent=2) + "\n")
    same = sha == entry["sha256"]
    print(f"wrote {outdir / 'model.onnx'}: {entry['name']} {entry['version']}, sha256 {sha} "
          f"{'matches' if same else 'DIFFERS from'} the manifest's {entry['sha256']}")
    if not same:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
