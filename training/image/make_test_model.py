"""Builds the tiny ONNX model the image analyser's tests use to exercise the learned-detector slot.

The model is not a detector: it outputs sigmoid(4 * mean(input)), so bright images score high and
dark images low, which lets a test check preprocessing, output mapping and thresholding.
Run with Debian's python3 (python3-onnx):  /usr/bin/python3 training/image/make_test_model.py
"""
import sys
import onnx
from onnx import TensorProto, helper

out_path = sys.argv[1] if len(sys.argv) > 1 else "server/src/analysis/image/test-fixtures/mean-brightness.onnx"
inp = helper.make_tensor_value_info("pixels", TensorProto.FLOAT, [1, 3, 32, 32])
out = helper.make_tensor_value_info("fake_probability", TensorProto.FLOAT, [1, 1])
scale = helper.make_tensor("scale", TensorProto.FLOAT, [], [4.0])
shape = helper.make_tensor("shape", TensorProto.INT64, [2], [1, 1])
nodes = [
    helper.make_node("ReduceMean", ["pixels"], ["m"], keepdims=0),
    helper.make_node("Mul", ["m", "scale"], ["z"]),
    helper.make_node("Sigmoid", ["z"], ["p"]),
    helper.make_node("Reshape", ["p", "shape"], ["fake_probability"]),
]
graph = helper.make_graph(nodes, "mean_brightness", [inp], [out], initializer=[scale, shape])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="discern-tests")
model.ir_version = 8
onnx.checker.check_model(model)
onnx.save(model, out_path)
print("wrote", out_path)
