#!/usr/bin/python3
"""Weights fixtures: small state dicts saved by torch (zip and legacy .pth), their goldens, the Python
reference conversions, a timm-style safetensors file, and a corpus of malformed files.

Writes into OUT/:
  w_multi_{zip,legacy}.pth, w_multi_ref.safetensors     several dtypes, a scalar, shared/strided storages
  w_wrapped_{zip,legacy}.pth, w_wrapped_ref.safetensors {"state_dict": {"module.x": ...}, "optimizer": ...}
  *_tv.safetensors                                      tools/convert_torchvision.py on each .pth
  w_timm.safetensors                                    torchvision names with num_batches_tracked
  weights_bad/*                                         malformed files: each must give a one-line error
"""
import collections
import io
import json
import os
import pickle
import struct
import sys
import zipfile

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import convert_torchvision  # noqa: E402
import st_io  # noqa: E402


def multi_state_dict():
    g = torch.Generator().manual_seed(7)
    sd = collections.OrderedDict()
    sd["conv.weight"] = torch.randn(4, 3, 3, 3, generator=g)
    sd["bn.weight"] = torch.rand(4, generator=g)
    sd["bn.running_var"] = torch.rand(4, generator=g).double()
    sd["bn.num_batches_tracked"] = torch.tensor(17)  # i64 scalar, shape []
    sd["half"] = torch.randn(5, generator=g).half()
    sd["bf16"] = torch.randn(2, 3, generator=g).bfloat16()
    sd["long"] = torch.tensor([-3, 0, 1 << 40])
    sd["int"] = torch.tensor([7, -8], dtype=torch.int32)
    sd["byte"] = torch.arange(7, dtype=torch.uint8) * 37
    sd["empty"] = torch.zeros(0, 3)
    base = torch.arange(20, dtype=torch.float32)  # two views of one storage at different offsets
    sd["shared.a"] = base[2:8]
    sd["shared.b"] = base[10:14].view(2, 2)
    sd["strided.t"] = torch.arange(12, dtype=torch.float32).view(3, 4).t()  # stride (1, 4)
    sd["strided.step"] = torch.arange(10, dtype=torch.float32)[1::3]  # offset 1, stride 3
    return sd


def wrapped_checkpoint():
    g = torch.Generator().manual_seed(8)
    net = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    net(torch.randn(4, 3, generator=g)).sum().backward()
    opt.step()
    sd = collections.OrderedDict(("module." + k, v) for k, v in net.state_dict().items())  # as DDP saves
    return {"epoch": 3, "state_dict": sd, "optimizer": opt.state_dict(), "best_acc1": 0.5, "arch": "toy"}


def save_both(obj, out, stem):
    torch.save(obj, os.path.join(out, stem + "_zip.pth"))
    torch.save(obj, os.path.join(out, stem + "_legacy.pth"), _use_new_zipfile_serialization=False)
    for fmt in ("zip", "legacy"):
        p = os.path.join(out, f"{stem}_{fmt}.pth")
        st_io.save(os.path.join(out, f"{stem}_{fmt}_tv.safetensors"), convert_torchvision.load_state_dict(p),
                   metadata={"format": "pt"})


# ---- hand-made pickles (no torch objects needed to describe a checkpoint) ----

class FakeStorage:
    def __init__(self, key, stype, numel, data):
        self.key, self.stype, self.numel, self.data = key, stype, numel, data


class FakeTensor:
    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, tuple(size), tuple(stride), False, collections.OrderedDict())

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, self.args)


class Evil:
    def __init__(self, fn, arg):
        self.fn, self.arg = fn, arg

    def __reduce__(self):
        return (self.fn, (self.arg,))


def dumps(obj, legacy=False):
    f = io.BytesIO()

    class P(pickle.Pickler):
        def persistent_id(self, o):
            if isinstance(o, FakeStorage):
                pid = ("storage", o.stype, o.key, "cpu", o.numel)
                return pid + (None,) if legacy else pid
            return None
    P(f, protocol=2).dump(obj)
    return f.getvalue()


def storages_of(obj, acc):
    if isinstance(obj, FakeTensor):
        acc[obj.args[0].key] = obj.args[0]
    elif isinstance(obj, dict):
        for v in obj.values():
            storages_of(v, acc)
    return acc


def write_zip(path, obj, compress=zipfile.ZIP_STORED, drop_keys=(), pkl=None):
    with zipfile.ZipFile(path, "w", compression=compress) as z:
        z.writestr("archive/data.pkl", pkl if pkl is not None else dumps(obj))
        for k, s in storages_of(obj, {}).items():
            if k not in drop_keys:
                z.writestr("archive/data/" + k, s.data)
        z.writestr("archive/version", b"3\n")


def write_legacy(path, obj, magic=0x1950a86a20f9469cfc6c, pkl=None):
    f = io.BytesIO()
    for head in (magic, 1001, {"protocol_version": 1001, "little_endian": True,
                               "type_sizes": {"short": 2, "int": 4, "long": 4}}):
        pickle.dump(head, f, protocol=2)
    f.write(pkl if pkl is not None else dumps(obj, legacy=True))
    st = storages_of(obj, {})
    pickle.dump(sorted(st), f, protocol=2)
    for k in sorted(st):
        s = st[k]
        f.write(struct.pack("<q", s.numel))
        f.write(s.data)
    with open(path, "wb") as fh:
        fh.write(f.getvalue())


def fake_sd(offset=0, size=(2, 3), stride=(3, 1), numel=6, nbytes=None):
    data = struct.pack("<6f", *range(6))
    if nbytes is not None:
        data = (data * 4)[:nbytes]
    s = FakeStorage("0", torch.FloatStorage, numel, data)
    return collections.OrderedDict(w=FakeTensor(s, offset, size, stride))


def st_raw(header, buf=b"", length=None):
    h = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(h) if length is None else length) + h + buf


def malformed(out, good_zip, good_legacy):
    d = os.path.join(out, "weights_bad")
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        os.remove(os.path.join(d, f))

    def put(name, data):
        with open(os.path.join(d, name), "wb") as fh:
            fh.write(data)

    t = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
    good = st_raw({"a": t}, b"\0" * 8)
    put("st_empty.safetensors", b"")
    put("st_short.safetensors", b"\x10\0\0")
    put("st_truncated_header.safetensors", good[:20])
    put("st_truncated_data.safetensors", good[:-3])
    put("st_huge_header_len.safetensors", st_raw({"a": t}, b"\0" * 8, length=1 << 62))
    put("st_header_over_100mb.safetensors", st_raw({"a": t}, b"\0" * 8, length=200_000_000))
    put("st_not_json.safetensors", st_raw(b"{not json at all\n}\n", b""))
    put("st_not_object.safetensors", st_raw([1, 2, 3]))
    put("st_dup_keys.safetensors", st_raw(b'{"a":' + json.dumps(t).encode() + b',"a":' + json.dumps(t).encode() + b"}",
                                          b"\0" * 8))
    put("st_overlap.safetensors", st_raw({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                          "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, b"\0" * 12))
    put("st_gap.safetensors", st_raw({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                                      "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}}, b"\0" * 12))
    put("st_wrong_size.safetensors", st_raw({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 12]}}, b"\0" * 12))
    put("st_offsets_out_of_range.safetensors",
        st_raw({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 8))
    put("st_trailing_bytes.safetensors", st_raw({"a": t}, b"\0" * 12))
    put("st_metadata_not_string.safetensors", st_raw({"__metadata__": {"epoch": 3}, "a": t}, b"\0" * 8))
    put("st_bad_dtype.safetensors", st_raw({"a": {"dtype": "Q7", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 8))
    put("st_negative_dim.safetensors", st_raw({"a": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}, b"\0" * 8))
    put("st_shape_overflow.safetensors",
        st_raw({"a": {"dtype": "F32", "shape": [1 << 32, 1 << 32, 0, 1 << 62], "data_offsets": [0, 0]}}))
    put("st_deep_nesting.safetensors", st_raw(b'{"a":{"dtype":"F32","shape":' + b"[" * 100000 + b"]" * 100000 + b"}}"))
    put("st_bad_offsets_type.safetensors",
        st_raw({"a": {"dtype": "F32", "shape": [2], "data_offsets": ["0", "8"]}}, b"\0" * 8))
    put("st_newline_name.safetensors", st_raw({"a\nb": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}},
                                              b"\0" * 8))
    put("garbage.bin", bytes(range(256)) * 3)

    put("pth_truncated_zip.pth", good_zip[: len(good_zip) // 2])
    put("pth_truncated_zip_tail.pth", good_zip[:-10])
    put("pth_truncated_legacy.pth", good_legacy[: len(good_legacy) // 2])
    put("pth_truncated_legacy_storage.pth", good_legacy[:-5])
    bad = bytearray(good_legacy)
    bad[5] ^= 0xFF  # inside the magic number
    put("pth_bad_magic.pth", bytes(bad))
    corrupt = bytearray(good_zip)
    corrupt[good_zip.find(b"/data/0") + 200] ^= 0xFF  # in the first storage's data (CRC mismatch)
    put("pth_bad_crc.pth", bytes(corrupt))
    p = os.path.join(d, "pth_compressed.pth")
    with zipfile.ZipFile(io.BytesIO(good_zip)) as zin, zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info.filename))

    evil = collections.OrderedDict(w=Evil(os.system, "touch /tmp/ishscale_pwned"))
    write_zip(os.path.join(d, "pth_os_system_zip.pth"), {}, pkl=pickle.dumps(evil, protocol=2))
    write_legacy(os.path.join(d, "pth_os_system_legacy.pth"), {}, pkl=pickle.dumps(evil, protocol=2))
    write_zip(os.path.join(d, "pth_builtins_eval.pth"), {},
              pkl=pickle.dumps(Evil(eval, "__import__('os').system('true')"), protocol=2))
    import argparse
    write_zip(os.path.join(d, "pth_unknown_global.pth"), {},
              pkl=pickle.dumps({"args": argparse.Namespace(lr=0.1)}, protocol=2))
    write_zip(os.path.join(d, "pth_unsupported_opcode.pth"), {}, pkl=pickle.dumps({"s": {1, 2}}, protocol=4))
    write_zip(os.path.join(d, "pth_storage_offset_oob.pth"), fake_sd(offset=5))
    write_legacy(os.path.join(d, "pth_storage_offset_oob_legacy.pth"), fake_sd(offset=100))
    write_zip(os.path.join(d, "pth_stride_oob.pth"), fake_sd(stride=(4, 1)))
    write_zip(os.path.join(d, "pth_negative_size.pth"), fake_sd(size=(-2, 3)))
    write_zip(os.path.join(d, "pth_storage_size_mismatch.pth"), fake_sd(nbytes=16))
    write_zip(os.path.join(d, "pth_missing_storage.pth"), fake_sd(), drop_keys=("0",))
    write_zip(os.path.join(d, "pth_no_state_dict.pth"), {}, pkl=pickle.dumps([1, 2, 3], protocol=2))
    write_zip(os.path.join(d, "pth_no_data_pkl.pth"), {}, pkl=b"")
    os.rename(os.path.join(d, "pth_no_data_pkl.pth"), os.path.join(d, "pth_empty_pickle.pth"))
    bool_sd = collections.OrderedDict(m=torch.ones(3, dtype=torch.bool))
    buf = io.BytesIO()
    torch.save(bool_sd, buf)
    put("pth_bool_storage.pth", buf.getvalue())


def make(out):
    os.makedirs(out, exist_ok=True)
    sd = multi_state_dict()
    save_both(sd, out, "w_multi")
    st_io.save(os.path.join(out, "w_multi_ref.safetensors"), sd)
    ck = wrapped_checkpoint()
    save_both(ck, out, "w_wrapped")
    st_io.save(os.path.join(out, "w_wrapped_ref.safetensors"),
               collections.OrderedDict((k[len("module."):], v) for k, v in ck["state_dict"].items()))
    # timm's resnet50.tv_in1k model.safetensors style: torchvision names, num_batches_tracked, format=pt.
    g = torch.Generator().manual_seed(9)
    timm = collections.OrderedDict()
    timm["conv1.weight"] = torch.randn(8, 3, 7, 7, generator=g)
    for k in ("weight", "bias", "running_mean", "running_var"):
        timm["bn1." + k] = torch.rand(8, generator=g)
    timm["bn1.num_batches_tracked"] = torch.tensor(0)
    timm["fc.weight"] = torch.randn(10, 8, generator=g)
    timm["fc.bias"] = torch.randn(10, generator=g)
    st_io.save(os.path.join(out, "w_timm.safetensors"), timm, metadata={"format": "pt"})
    with open(os.path.join(out, "w_multi_zip.pth"), "rb") as f:
        good_zip = f.read()
    with open(os.path.join(out, "w_multi_legacy.pth"), "rb") as f:
        good_legacy = f.read()
    malformed(out, good_zip, good_legacy)


if __name__ == "__main__":
    make(sys.argv[1] if len(sys.argv) > 1 else "build/fixtures")
