#include "weights/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>

#include "util/fs.h"
#include "util/content_hash.h"
#include "weights/text.h"

namespace ish::st {

using json = nlohmann::json;
using weights::printable;
using weights::qstr;
static constexpr uint64_t kMaxHeader = 100ull * 1000 * 1000;
static constexpr int kMaxDepth = 32;  // a valid header nests 3 deep; deep nesting only risks recursion

struct File::Impl {
  std::string path;
  int fd = -1;
  void* map = nullptr;
  size_t size = 0;
  std::string owned;                // the bytes, for from_bytes()
  const uint8_t* buffer = nullptr;  // start of the raw buffer
  std::vector<TensorInfo> tensors;
  std::map<std::string, size_t> index;
  std::map<std::string, std::string> metadata;
  ~Impl() {
    if (map && map != MAP_FAILED) munmap(map, size);
    if (fd >= 0) close(fd);
  }
};

// Refuses nesting deeper than kMaxDepth before parsing (the parser is iterative, dump() is not).
static void check_depth(const std::string& path, const char* p, const char* end) {
  int depth = 0;
  bool in_str = false;
  for (; p < end; p++) {
    char c = *p;
    if (in_str) {
      if (c == '\\') p++;
      else if (c == '"') in_str = false;
    } else if (c == '"') in_str = true;
    else if (c == '[' || c == '{') {
      ISH_CHECK(++depth <= kMaxDepth, path, ": header JSON nests deeper than ", kMaxDepth, " levels");
    } else if (c == ']' || c == '}') depth--;
  }
}

// Parses JSON, refusing duplicate keys at any depth (nlohmann keeps the last one silently).
static json parse_strict(const std::string& path, const char* begin, const char* end) {
  check_depth(path, begin, end);
  std::vector<std::set<std::string>> keys;
  std::string dup;
  bool have_dup = false;
  auto cb = [&](int, json::parse_event_t ev, json& parsed) {
    if (ev == json::parse_event_t::object_start) keys.emplace_back();
    else if (ev == json::parse_event_t::object_end) { if (!keys.empty()) keys.pop_back(); }
    else if (ev == json::parse_event_t::key && !keys.empty()) {
      std::string k = parsed.get<std::string>();
      if (!keys.back().insert(k).second && !have_dup) { dup = k; have_dup = true; }
    }
    return true;
  };
  json j;
  try {
    j = json::parse(begin, end, cb);
  } catch (const json::exception& e) {
    fail(path, ": header is not valid JSON (", printable(e.what(), 200), ")");
  }
  ISH_CHECK(!have_dup, path, ": duplicate key ", qstr(dup), " in header");
  return j;
}

// Validates the header and the offsets of [8-byte length][header][buffer] at base[0, size).
static void parse(File::Impl& im, const uint8_t* base) {
  const std::string& path = im.path;
  ISH_CHECK(im.size >= 8, path, ": truncated (", im.size, " bytes, need at least 8 for the header length)");
  uint64_t n = 0;
  for (int i = 7; i >= 0; i--) n = (n << 8) | base[i];
  ISH_CHECK(n <= kMaxHeader, path, ": header length ", n, " exceeds the 100 MB limit");
  ISH_CHECK(n <= im.size - 8, path, ": truncated (header length ", n, " but only ", im.size - 8, " bytes follow)");
  ISH_CHECK(n >= 2 && base[8] == '{', path, ": header does not start with '{' (not a safetensors file?)");
  json j = parse_strict(path, (const char*)base + 8, (const char*)base + 8 + n);
  ISH_CHECK(j.is_object(), path, ": header is not a JSON object");
  im.buffer = base + 8 + n;
  const uint64_t buf_size = im.size - 8 - n;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& name = it.key();
    const std::string qn = qstr(name);
    const json& v = it.value();
    if (name == "__metadata__") {
      ISH_CHECK(v.is_object(), path, ": __metadata__ is not an object");
      for (auto m = v.begin(); m != v.end(); ++m) {
        ISH_CHECK(m.value().is_string(), path, ": __metadata__ value for ", qstr(m.key()), " is not a string");
        im.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    ISH_CHECK(v.is_object(), path, ": tensor ", qn, ": entry is not an object");
    TensorInfo ti;
    ti.name = name;
    ISH_CHECK(v.contains("dtype") && v["dtype"].is_string(), path, ": tensor ", qn, ": missing dtype");
    ISH_CHECK(dtype_from_name(v["dtype"].get<std::string>(), &ti.dtype), path, ": tensor ", qn,
              ": unsupported dtype ", qstr(v["dtype"].get<std::string>()));
    ISH_CHECK(v.contains("shape") && v["shape"].is_array(), path, ": tensor ", qn, ": missing shape");
    uint64_t numel = 1, nonzero = 1;  // nonzero: product of the non-zero dims, bounds every dim
    for (auto& d : v["shape"]) {
      ISH_CHECK(d.is_number_unsigned() || (d.is_number_integer() && d.get<int64_t>() >= 0), path, ": tensor ", qn,
                ": bad dimension ", printable(d.dump(), 40));
      uint64_t dv = d.get<uint64_t>();
      ISH_CHECK(dv == 0 || nonzero <= (uint64_t)INT64_MAX / dv / 8, path, ": tensor ", qn, ": shape overflows");
      if (dv) nonzero *= dv;
      numel *= dv;
      ti.shape.push_back((int64_t)dv);
    }
    const json& off = v.contains("data_offsets") ? v["data_offsets"] : json();
    ISH_CHECK(off.is_array() && off.size() == 2 && off[0].is_number_unsigned() && off[1].is_number_unsigned(), path,
              ": tensor ", qn, ": data_offsets must be two non-negative integers");
    ti.begin = off[0].get<uint64_t>();
    ti.end = off[1].get<uint64_t>();
    ISH_CHECK(ti.begin <= ti.end && ti.end <= buf_size, path, ": tensor ", qn, ": data_offsets [", ti.begin, ",",
              ti.end, "] out of range (buffer is ", buf_size, " bytes)");
    ISH_CHECK(ti.end - ti.begin == numel * itemsize(ti.dtype), path, ": tensor ", qn, ": ", ti.end - ti.begin,
              " bytes but shape ", shape_str(ti.shape), " ", dtype_name(ti.dtype), " needs ",
              numel * itemsize(ti.dtype));
    im.index[name] = im.tensors.size();
    im.tensors.push_back(ti);
  }
  // Offsets must tile the buffer exactly: sorted by begin, each starts where the last ended.
  std::vector<const TensorInfo*> by_off;
  for (auto& t : im.tensors) by_off.push_back(&t);
  std::sort(by_off.begin(), by_off.end(),
            [](auto* a, auto* b) {
              return a->begin != b->begin ? a->begin < b->begin : a->end != b->end ? a->end < b->end : a->name < b->name;
            });
  uint64_t pos = 0;
  for (auto* t : by_off) {
    ISH_CHECK(t->begin == pos, path, ": tensor ", qstr(t->name), ": data_offsets begin at ", t->begin,
              ", expected ", pos, t->begin < pos ? " (overlap)" : " (gap)");
    pos = t->end;
  }
  ISH_CHECK(pos == buf_size, path, ": ", buf_size - pos, " trailing bytes after the last tensor");
  // tensors() lists them in the order their data lies in the file (the JSON object is not ordered).
  std::vector<TensorInfo> ordered;
  for (auto* t : by_off) ordered.push_back(*t);
  im.tensors = std::move(ordered);
  im.index.clear();
  for (size_t i = 0; i < im.tensors.size(); i++) im.index[im.tensors[i].name] = i;
}

File File::open(const std::string& path) {
  auto im = std::make_shared<Impl>();
  im->path = path;
  im->fd = ::open(path.c_str(), O_RDONLY);
  ISH_CHECK(im->fd >= 0, path, ": cannot open (", std::strerror(errno), ")");
  struct stat sb;
  ISH_CHECK(fstat(im->fd, &sb) == 0 && S_ISREG(sb.st_mode), path, ": not a regular file");
  im->size = (size_t)sb.st_size;
  ISH_CHECK(im->size >= 8, path, ": truncated (", im->size, " bytes, need at least 8 for the header length)");
  im->map = mmap(nullptr, im->size, PROT_READ, MAP_PRIVATE, im->fd, 0);
  ISH_CHECK(im->map != MAP_FAILED, path, ": mmap failed (", std::strerror(errno), ")");
  parse(*im, (const uint8_t*)im->map);
  File f;
  f.impl_ = im;
  return f;
}

File File::from_bytes(const std::string& name, std::string bytes) {
  auto im = std::make_shared<Impl>();
  im->path = name;
  im->owned = std::move(bytes);
  im->size = im->owned.size();
  parse(*im, (const uint8_t*)im->owned.data());
  File f;
  f.impl_ = im;
  return f;
}

const std::string& File::path() const { return impl_->path; }
std::string File::content_hash() const {
  util::ContentHash h;
  h.add(impl_->map ? impl_->map : (const void*)impl_->owned.data(), impl_->size);
  return h.hex();
}
const std::vector<TensorInfo>& File::tensors() const { return impl_->tensors; }
const std::map<std::string, std::string>& File::metadata() const { return impl_->metadata; }
bool File::has(const std::string& name) const { return impl_->index.count(name) > 0; }
const TensorInfo& File::info(const std::string& name) const {
  auto it = impl_->index.find(name);
  ISH_CHECK(it != impl_->index.end(), impl_->path, ": no tensor ", qstr(name));
  return impl_->tensors[it->second];
}
const void* File::bytes(const std::string& name) const { return impl_->buffer + info(name).begin; }
Tensor File::load(const std::string& name) const {
  const TensorInfo& ti = info(name);
  Tensor t = Tensor::empty(ti.shape, ti.dtype);
  if (ti.end > ti.begin) std::memcpy(t.raw(), impl_->buffer + ti.begin, ti.end - ti.begin);
  t.set_name(name);
  return t;
}
std::map<std::string, Tensor> File::load_all() const {
  std::map<std::string, Tensor> m;
  for (auto& t : impl_->tensors) m[t.name] = load(t.name);
  return m;
}

std::string serialize(const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  std::vector<size_t> order(tensors.size());
  for (size_t i = 0; i < order.size(); i++) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    size_t ia = itemsize(tensors[a].second.dtype()), ib = itemsize(tensors[b].second.dtype());
    return ia != ib ? ia > ib : tensors[a].first < tensors[b].first;
  });
  json h = json::object();
  if (!metadata.empty()) h["__metadata__"] = metadata;
  std::set<std::string> names;
  uint64_t pos = 0;
  for (size_t i : order) {
    const auto& [name, t] = tensors[i];
    ISH_CHECK(t.defined(), "serialize: tensor ", qstr(name), " is undefined");
    ISH_CHECK(name != "__metadata__", "serialize: '__metadata__' is reserved and cannot name a tensor");
    ISH_CHECK(names.insert(name).second, "serialize: duplicate tensor name ", qstr(name));
    json e;
    e["dtype"] = dtype_name(t.dtype());
    e["shape"] = t.shape();
    e["data_offsets"] = {pos, pos + t.nbytes()};
    pos += t.nbytes();
    h[name] = e;
  }
  std::string hs;
  try {
    hs = h.dump();
  } catch (const json::exception& e) {  // e.g. a name that is not valid UTF-8
    fail("serialize: cannot write the header (", printable(e.what(), 200), ")");
  }
  while (hs.size() % 8) hs.push_back(' ');
  std::string out(8, '\0');
  for (int i = 0; i < 8; i++) out[i] = (char)((hs.size() >> (8 * i)) & 0xFF);
  out.reserve(8 + hs.size() + pos);
  out += hs;
  for (size_t i : order) {
    Tensor c = tensors[i].second.to(Device::CPU);
    out.append((const char*)c.raw(), c.nbytes());
  }
  return out;
}

void save(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
          const std::map<std::string, std::string>& metadata) {
  util::AtomicWriteOptions o;
  o.make_parents = false;
  o.durable = true;  // checkpoints must survive a crash right after the save
  util::atomic_write(path, serialize(tensors, metadata), o);
}

}  // namespace ish::st
