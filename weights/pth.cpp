#include "weights/pth.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <set>

#include "util/content_hash.h"
#include "weights/text.h"
#include "weights/zip.h"

namespace ish::weights {

using pkl::Kind;
using pkl::Pickle;
using pkl::Value;

namespace {

bool is_state_dict(const Pickle& p, const Value& v) {
  if (v.kind != Kind::Dict || v.items.empty()) return false;
  for (size_t i = 0; i < v.items.size(); i += 2)
    if (p.at(v.items[i]).kind != Kind::Str || p.at(v.items[i + 1]).kind != Kind::Tensor) return false;
  return true;
}

std::string key_list(const Pickle& p, const Value& d) {
  std::string r;
  for (size_t i = 0; i < d.items.size() && i < 24; i += 2) {
    const Value& k = p.at(d.items[i]);
    r += (i ? ", " : "") + (k.kind == Kind::Str ? qstr(k.s) : std::string(pkl::kind_name(k.kind)));
  }
  return r + (d.items.size() > 24 ? ", ..." : "");
}

// The dict of tensors inside the checkpoint: the root itself, or the obvious nested one.
const Value& find_state_dict(const std::string& w, const Pickle& p) {
  const Value& root = p.at(p.root);
  if (is_state_dict(p, root)) return root;
  ISH_CHECK(root.kind == Kind::Dict, w, ": the checkpoint holds a ", pkl::kind_name(root.kind),
            ", not a state dict (a dict of tensors)");
  static const char* kPreferred[] = {"state_dict", "model_state_dict", "model", "net", "network",
                                     "state", "module", "params", "weights"};
  for (const char* want : kPreferred)
    for (size_t i = 0; i < root.items.size(); i += 2) {
      const Value& k = p.at(root.items[i]);
      if (k.kind == Kind::Str && k.s == want && is_state_dict(p, p.at(root.items[i + 1]))) return p.at(root.items[i + 1]);
    }
  std::vector<size_t> cands;
  for (size_t i = 0; i < root.items.size(); i += 2)
    if (p.at(root.items[i]).kind == Kind::Str && is_state_dict(p, p.at(root.items[i + 1]))) cands.push_back(i);
  ISH_CHECK(!cands.empty(), w, ": no state dict (a dict of str -> tensor) found; top-level keys: ", key_list(p, root));
  ISH_CHECK(cands.size() == 1, w, ": ", cands.size(), " candidate state dicts (", qstr(p.at(root.items[cands[0]]).s),
            ", ", qstr(p.at(root.items[cands[1]]).s), ", ...); cannot tell which one holds the model");
  return p.at(root.items[cands[0] + 1]);
}

Tensor materialise(const std::string& w, const std::string& name, const pkl::TensorRef& t, const pkl::StorageRef& s,
                   const std::pair<const uint8_t*, uint64_t>& bytes, uint64_t* budget) {
  const std::string tn = qstr(name);
  const uint64_t isz = itemsize(s.dtype);
  ISH_CHECK(bytes.second % isz == 0 && bytes.second / isz == s.root_numel, w, ": tensor ", tn, ": storage ",
            qstr(s.key), " is declared as ", s.root_numel, " ", dtype_name(s.dtype), " elements but holds ",
            bytes.second, " bytes");
  ISH_CHECK(t.offset >= 0, w, ": tensor ", tn, ": negative storage offset ", t.offset);
  uint64_t numel = 1, nonzero = 1;
  __int128 last = t.offset;  // index of the last element the view touches
  for (size_t d = 0; d < t.size.size(); d++) {
    ISH_CHECK(t.size[d] >= 0 && t.stride[d] >= 0, w, ": tensor ", tn, ": negative size or stride in dim ", d);
    uint64_t sz = (uint64_t)t.size[d];
    ISH_CHECK(sz == 0 || nonzero <= (uint64_t)INT64_MAX / sz / 8, w, ": tensor ", tn, ": shape overflows");
    if (sz) nonzero *= sz;
    numel *= sz;
    if (sz) last += (__int128)(sz - 1) * t.stride[d];
  }
  if (numel > 0)
    ISH_CHECK(last < (__int128)s.numel, w, ": tensor ", tn, ": offset ", t.offset, " and strides reach element ",
              (long long)std::min<__int128>(last, INT64_MAX), " of a storage with ", s.numel, " elements");
  else
    ISH_CHECK((uint64_t)t.offset <= s.numel, w, ": tensor ", tn, ": storage offset ", t.offset, " past its ",
              s.numel, " elements");
  ISH_CHECK(numel * isz <= *budget, w, ": tensor ", tn, ": ", numel * isz,
            " bytes would exceed the size limit for this file (strided views expanding the data?)");
  *budget -= numel * isz;
  Tensor out = Tensor::empty(Shape(t.size.begin(), t.size.end()), s.dtype);
  out.set_name(name);
  if (numel == 0) return out;
  const uint8_t* src = bytes.first + (s.view_offset + (uint64_t)t.offset) * isz;
  uint8_t* dst = (uint8_t*)out.raw();
  bool contiguous = true;
  int64_t expect = 1;
  for (size_t d = t.size.size(); d-- > 0;) {
    if (t.size[d] != 1 && t.stride[d] != expect) contiguous = false;
    expect *= t.size[d];
  }
  if (contiguous) {
    std::memcpy(dst, src, numel * isz);
    return out;
  }
  // General strided gather, one element at a time (state dicts are contiguous; this is the rare case).
  const size_t nd = t.size.size();
  std::vector<int64_t> idx(nd, 0);
  for (uint64_t i = 0; i < numel; i++) {
    int64_t off = 0;
    for (size_t d = 0; d < nd; d++) off += idx[d] * t.stride[d];
    std::memcpy(dst + i * isz, src + (uint64_t)off * isz, isz);
    for (size_t d = nd; d-- > 0;) {
      if (++idx[d] < t.size[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

struct Mapped {
  void* map = MAP_FAILED;
  size_t size = 0;
  ~Mapped() { if (map != MAP_FAILED) munmap(map, size); }
};

StateDict load_zip(const std::string& w, const uint8_t* data, size_t size, uint64_t max_bytes) {
  ZipReader zip(w, data, size);
  const ZipReader::Entry* pkl_entry = nullptr;
  for (auto& e : zip.entries()) {
    size_t slash = e.name.find('/');
    if (slash != std::string::npos && e.name.compare(slash, std::string::npos, "/data.pkl") == 0) {
      ISH_CHECK(!pkl_entry, w, ": more than one data.pkl in the archive");
      pkl_entry = &e;
    }
  }
  ISH_CHECK(pkl_entry, w, ": zip archive without <root>/data.pkl (not a PyTorch checkpoint)");
  const std::string root = pkl_entry->name.substr(0, pkl_entry->name.size() - 8);  // keeps the '/'
  if (const ZipReader::Entry* bo = zip.find(root + "byteorder")) {
    auto b = zip.read(*bo);
    ISH_CHECK(std::string((const char*)b.first, b.second) == "little", w, ": byteorder is not 'little'");
  }
  auto pk = zip.read(*pkl_entry);
  size_t pos = 0;
  Pickle p = pkl::unpickle(w + " (" + printable(pkl_entry->name) + ")", pk.first, pk.second, &pos);
  std::map<std::string, std::pair<const uint8_t*, uint64_t>> read;  // each entry is CRC-checked once
  auto storage = [&](const std::string& key) {
    auto it = read.find(key);
    if (it != read.end()) return it->second;
    const ZipReader::Entry* e = zip.find(root + "data/" + key);
    ISH_CHECK(e, w, ": storage ", qstr(key), " has no entry ", qstr(root + "data/" + key));
    return read[key] = zip.read(*e);
  };
  return state_dict_from_pickle(w, p, storage, max_bytes);
}

StateDict load_legacy(const std::string& w, const uint8_t* data, size_t size, uint64_t max_bytes) {
  size_t pos = 0;
  Pickle magic = pkl::unpickle(w + " (magic number)", data, size, &pos);
  const Value& m = magic.at(magic.root);
  static const uint8_t kMagic[10] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
  ISH_CHECK(m.kind == Kind::BigInt && m.s == std::string((const char*)kMagic, 10), w,
            ": bad magic number (not a PyTorch legacy checkpoint)");
  Pickle proto = pkl::unpickle(w + " (protocol version)", data, size, &pos);
  ISH_CHECK(proto.at(proto.root).kind == Kind::Int && proto.at(proto.root).i == 1001, w,
            ": unsupported legacy protocol version");
  Pickle sys = pkl::unpickle(w + " (sys_info)", data, size, &pos);
  const Value& si = sys.at(sys.root);
  ISH_CHECK(si.kind == Kind::Dict, w, ": sys_info is not a dict");
  for (size_t i = 0; i < si.items.size(); i += 2)
    if (sys.at(si.items[i]).kind == Kind::Str && sys.at(si.items[i]).s == "little_endian")
      ISH_CHECK(sys.at(si.items[i + 1]).kind == Kind::Bool && sys.at(si.items[i + 1]).i == 1, w,
                ": big-endian checkpoints are not supported");
  Pickle main = pkl::unpickle(w + " (main pickle)", data, size, &pos);
  Pickle keys = pkl::unpickle(w + " (storage keys)", data, size, &pos);
  const Value& kl = keys.at(keys.root);
  ISH_CHECK(kl.kind == Kind::List, w, ": storage key list is a ", pkl::kind_name(kl.kind), ", not a list");
  // Element size of each key, from the first reference the main pickle made to it.
  std::map<std::string, size_t> elem;
  for (auto& s : main.storages) elem.emplace(s.key, itemsize(s.dtype));
  std::map<std::string, std::pair<const uint8_t*, uint64_t>> blobs;
  for (uint32_t ki : kl.items) {
    ISH_CHECK(keys.at(ki).kind == Kind::Str, w, ": storage key is a ", pkl::kind_name(keys.at(ki).kind));
    const std::string& key = keys.at(ki).s;
    auto it = elem.find(key);
    ISH_CHECK(it != elem.end(), w, ": storage ", qstr(key), " is listed but never used");
    ISH_CHECK(!blobs.count(key), w, ": storage ", qstr(key), " is listed twice");
    ISH_CHECK(size - pos >= 8, w, ": truncated at storage ", qstr(key), " (byte ", pos, ")");
    uint64_t count = 0;
    for (int i = 7; i >= 0; i--) count = (count << 8) | data[pos + i];
    pos += 8;
    ISH_CHECK(count <= (size - pos) / it->second, w, ": truncated: storage ", qstr(key), " declares ", count,
              " elements of ", it->second, " bytes but only ", size - pos, " bytes remain");
    blobs[key] = {data + pos, count * it->second};
    pos += count * it->second;
  }
  auto storage = [&](const std::string& key) {
    auto it = blobs.find(key);
    ISH_CHECK(it != blobs.end(), w, ": storage ", qstr(key), " is not in the file");
    return it->second;
  };
  return state_dict_from_pickle(w, main, storage, max_bytes);
}

}  // namespace

StateDict state_dict_from_pickle(const std::string& w, const Pickle& p, const StorageBytes& storage,
                                 uint64_t max_bytes) {
  const Value& sd = find_state_dict(w, p);
  std::vector<std::string> names;
  std::set<std::string> seen;
  bool all_module = true;
  for (size_t i = 0; i < sd.items.size(); i += 2) {
    const std::string& k = p.at(sd.items[i]).s;
    ISH_CHECK(seen.insert(k).second, w, ": duplicate key ", qstr(k), " in the state dict");
    names.push_back(k);
    all_module = all_module && k.compare(0, 7, "module.") == 0;
  }
  if (all_module) {
    std::set<std::string> stripped;
    for (auto& n : names) {
      n = n.substr(7);
      ISH_CHECK(stripped.insert(n).second, w, ": duplicate key ", qstr(n), " after stripping 'module.'");
    }
  }
  StateDict out;
  uint64_t budget = max_bytes;
  for (size_t i = 0; i < names.size(); i++) {
    const pkl::TensorRef& t = p.tensors[(size_t)p.at(sd.items[2 * i + 1]).i];
    const pkl::StorageRef& s = p.storages[t.storage];
    out.emplace_back(names[i], materialise(w, names[i], t, s, storage(s.key), &budget));
  }
  return out;
}

StateDict load_pth_bytes(const std::string& w, const uint8_t* data, size_t size, uint64_t max_bytes) {
  ISH_CHECK(size >= 4, w, ": truncated (", size, " bytes)");
  if (max_bytes == 0) max_bytes = 2 * (uint64_t)size + (64u << 20);
  if (data[0] == 'P' && data[1] == 'K') return load_zip(w, data, size, max_bytes);
  ISH_CHECK(data[0] == 0x80, w, ": not a PyTorch checkpoint (neither a zip archive nor a pickle)");
  return load_legacy(w, data, size, max_bytes);
}

StateDict load_pth(const std::string& path, std::string* content_hash) {
  int fd = ::open(path.c_str(), O_RDONLY);
  ISH_CHECK(fd >= 0, path, ": cannot open (", std::strerror(errno), ")");
  struct stat sb;
  bool regular = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode);
  Mapped m;
  m.size = regular ? (size_t)sb.st_size : 0;
  if (regular && m.size > 0) m.map = mmap(nullptr, m.size, PROT_READ, MAP_PRIVATE, fd, 0);
  int err = errno;
  ::close(fd);
  ISH_CHECK(regular, path, ": not a regular file");
  ISH_CHECK(m.size > 0, path, ": empty file");
  ISH_CHECK(m.map != MAP_FAILED, path, ": mmap failed (", std::strerror(err), ")");
  if (content_hash) {
    util::ContentHash h;
    h.add(m.map, m.size);
    *content_hash = h.hex();
  }
  return load_pth_bytes(path, (const uint8_t*)m.map, m.size);
}

}  // namespace ish::weights
