"""The swapper's optimized copy cut in two at its decoder, so that no buffer of one half outlives it.

ONNX Runtime plans each run's buffers once per session and lets a tensor reuse the buffer of one that died
earlier with the same shape. In inswapper_128 the decoder's 256x128x128 activation reuses the encoder's,
so that 16 MiB buffer stays allocated through the whole bottleneck and adds to the decoder's own peak
(upsampled 512x128x128 input and that output at once). Run as two sessions (the encoder and bottleneck,
then the decoder from its first upsampling on) the halves share no buffer: the same arithmetic, node for
node, the same output bit for bit, and the swapper's forward peaks 12 MB lower (docs/performance-notes.md).
Turning ONNX Runtime's buffer reuse off altogether (``enable_mem_reuse``) lowers it by 16 MB but maps
fresh pages for every tensor: four times the page faults and about 9 % more CPU time per forward.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["HEAD", "TAIL", "split_at_decoder", "split_halves"]

HEAD, TAIL = "head.onnx", "tail.onnx"
"""The halves' file names, beside the optimized copy (its weights file is theirs too)."""

_UPSAMPLING = ("Resize", "Upsample")


def split_halves(model: Path) -> tuple[Path, Path] | None:
    """The halves `split_at_decoder` wrote beside `model`; None when it made none."""
    head, tail = model.with_name(HEAD), model.with_name(TAIL)
    return (head, tail) if head.is_file() and tail.is_file() else None


def split_at_decoder(model: Path) -> bool:
    """Write `model`'s halves beside it (HEAD: every node before the first upsampling; TAIL: the rest),
    each naming only the initializers it uses, in the same external weights file. False, and nothing
    written, when the graph does not part there through a single tensor (the tail may not read a graph
    input), or has no upsampling."""
    import onnx
    from onnx import helper

    proto = onnx.load(str(model), load_external_data=False)
    graph = proto.graph
    nodes = list(graph.node)
    cut = next((index for index, node in enumerate(nodes) if node.op_type in _UPSAMPLING), 0)
    if cut == 0:
        return False
    head, tail = nodes[:cut], nodes[cut:]
    produced = {name for node in head for name in node.output}
    read_after = {name for node in tail for name in node.input if name}
    graph_inputs = {value.name for value in graph.input}
    crossing = sorted(produced & read_after)
    if len(crossing) != 1 or read_after & graph_inputs:
        return False
    (boundary,) = crossing
    boundary_info = helper.make_tensor_value_info(boundary, onnx.TensorProto.FLOAT, None)

    def half(
        part: list[onnx.NodeProto],
        inputs: list[onnx.ValueInfoProto],
        outputs: list[onnx.ValueInfoProto],
        name: str,
    ) -> onnx.ModelProto:
        used = {value for node in part for value in node.input}
        initializers = [tensor for tensor in graph.initializer if tensor.name in used]
        made = helper.make_model(
            helper.make_graph(part, name, inputs, outputs, initializers),
            opset_imports=proto.opset_import,
            producer_name=proto.producer_name,
            producer_version=proto.producer_version,
        )
        made.ir_version = proto.ir_version
        return made

    halves = {
        HEAD: half(head, list(graph.input), [boundary_info], "head"),
        TAIL: half(tail, [boundary_info], list(graph.output), "tail"),
    }
    for name, made in halves.items():
        onnx.save(made, str(model.with_name(name)))
    return True
