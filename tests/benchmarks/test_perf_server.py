"""perf_server's reading of ``perf script`` output: each sample charged to its nearest
compiled frame (the tool itself needs perf and permission to record; not run here)."""

from __future__ import annotations

from benchmarks.perf_server import attribute, stacks

SCRIPT = """\
python 101
\t    7f01 sha512_block_data_order_avx2+0x1f
\t    7f02 CPyDef_receipts___ReceiptSealer___signed+0x40
\t    7f03 CPyDef_receipts___ReceiptSealer____seal_as+0x10
\t    7f04 _PyEval_EvalFrameDefault+0x99

python 101
\t    7f05 tuplerichcompare (inlined)
\t    7f06 CPyDef_reading___VersionFingerprint_____eq__+0x8
\t    7f07 CPyDef_batch___BatchVerifier____vet+0x8

event_engine 102
\t    7f08 epoll_wait+0x3
\t    7f09 [unknown]

python 103
\t    7f0a CPyDef_receipts___ReceiptSealer____seal_as+0x22
"""


def test_samples_are_read_leaf_first_without_offsets() -> None:
    found = list(stacks(SCRIPT.splitlines()))
    assert len(found) == 4
    assert found[0][:2] == [
        "sha512_block_data_order_avx2",
        "CPyDef_receipts___ReceiptSealer___signed",
    ]
    assert found[1][0] == "tuplerichcompare"
    assert found[3] == ["CPyDef_receipts___ReceiptSealer____seal_as"]


def test_each_sample_counts_for_its_nearest_compiled_frame_and_every_one_above() -> None:
    total, nearest, inclusive = attribute(stacks(SCRIPT.splitlines()))
    assert total == 4
    assert nearest == {
        "receipts___ReceiptSealer___signed": 1,
        "reading___VersionFingerprint_____eq__": 1,
        "[other] epoll_wait": 1,
        "receipts___ReceiptSealer____seal_as": 1,
    }
    assert inclusive["receipts___ReceiptSealer____seal_as"] == 2
    assert inclusive["batch___BatchVerifier____vet"] == 1
    assert sum(nearest.values()) == total
