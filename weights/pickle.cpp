#include "weights/pickle.h"

#include <cstring>
#include <unordered_map>

#include "weights/text.h"

namespace ish::weights::pkl {

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::None: return "None"; case Kind::Bool: return "bool"; case Kind::Int: return "int";
    case Kind::BigInt: return "int"; case Kind::Float: return "float"; case Kind::Str: return "str";
    case Kind::Bytes: return "bytes"; case Kind::Tuple: return "tuple"; case Kind::List: return "list";
    case Kind::Dict: return "dict"; case Kind::Global: return "global"; case Kind::Storage: return "storage";
    case Kind::Tensor: return "tensor";
  }
  return "?";
}

namespace {

constexpr size_t kMaxValues = 20u << 20;  // a ResNet-152 state dict needs ~10k

// The globals a state dict may name. Storage types map to their dtype; callables are interpreted below.
struct Allowed { const char* name; bool storage; DType dtype; };
const Allowed kAllowed[] = {
    {"collections.OrderedDict", false, DType::F32},
    {"torch._utils._rebuild_tensor", false, DType::F32},
    {"torch._utils._rebuild_tensor_v2", false, DType::F32},
    {"torch._utils._rebuild_parameter", false, DType::F32},
    {"torch._utils._rebuild_parameter_with_state", false, DType::F32},
    {"torch._tensor._rebuild_from_type_v2", false, DType::F32},
    {"torch.Tensor", false, DType::F32},
    {"torch.nn.parameter.Parameter", false, DType::F32},
    {"torch.FloatStorage", true, DType::F32},
    {"torch.DoubleStorage", true, DType::F64},
    {"torch.HalfStorage", true, DType::F16},
    {"torch.BFloat16Storage", true, DType::BF16},
    {"torch.LongStorage", true, DType::I64},
    {"torch.IntStorage", true, DType::I32},
    {"torch.ByteStorage", true, DType::U8},
};
const Allowed* find_allowed(const std::string& g) {
  for (auto& a : kAllowed)
    if (g == a.name) return &a;
  return nullptr;
}

class Unpickler {
 public:
  Unpickler(const std::string& what, const uint8_t* d, size_t n, size_t pos) : w_(what), d_(d), n_(n), p_(pos) {}

  Pickle run(size_t* end_pos) {
    for (;;) {
      ISH_CHECK(p_ < n_, w_, ": truncated pickle (no STOP opcode before byte ", n_, ")");
      op_at_ = p_;
      uint8_t op = d_[p_++];
      if (op == '.') break;
      step(op);
    }
    ISH_CHECK(stack_.size() == 1 && marks_.empty(), w_, ": malformed pickle (", stack_.size(),
              " values left on the stack at STOP)");
    out_.root = stack_[0];
    *end_pos = p_;
    return std::move(out_);
  }

 private:
  const std::string& w_;
  const uint8_t* d_;
  size_t n_, p_, op_at_ = 0;
  Pickle out_;
  std::vector<uint32_t> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint32_t, uint32_t> memo_;

  template <class... A>
  [[noreturn]] void bad(const A&... a) { fail(w_, ": pickle byte ", op_at_, ": ", a...); }

  const uint8_t* take(uint64_t k) {
    if (k > n_ - p_) bad("truncated (needs ", k, " bytes, ", n_ - p_, " left)");
    const uint8_t* r = d_ + p_;
    p_ += k;
    return r;
  }
  uint64_t uint_le(int k) {
    const uint8_t* b = take(k);
    uint64_t v = 0;
    for (int i = k - 1; i >= 0; i--) v = (v << 8) | b[i];
    return v;
  }
  std::string line() {  // GLOBAL's "module\n" and "name\n"
    size_t start = p_;
    while (p_ < n_ && d_[p_] != '\n') {
      if (p_ - start > 512) bad("GLOBAL name longer than 512 bytes");
      p_++;
    }
    if (p_ >= n_) bad("truncated GLOBAL");
    return std::string((const char*)d_ + start, p_++ - start);
  }

  uint32_t make(Value v) {
    if (out_.values.size() >= kMaxValues) bad("more than ", kMaxValues, " values; refusing");
    out_.values.push_back(std::move(v));
    return (uint32_t)(out_.values.size() - 1);
  }
  uint32_t make_kind(Kind k) { Value v; v.kind = k; return make(std::move(v)); }
  uint32_t make_int(int64_t i, Kind k = Kind::Int) { Value v; v.kind = k; v.i = i; return make(std::move(v)); }
  uint32_t make_str(Kind k, const uint8_t* b, uint64_t len) {
    Value v;
    v.kind = k;
    v.s.assign((const char*)b, len);
    return make(std::move(v));
  }
  void push(uint32_t v) { stack_.push_back(v); }
  uint32_t pop() {
    if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back())) bad("stack underflow");
    uint32_t v = stack_.back();
    stack_.pop_back();
    return v;
  }
  uint32_t top() {
    if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back())) bad("stack underflow");
    return stack_.back();
  }
  std::vector<uint32_t> pop_mark() {
    if (marks_.empty()) bad("no MARK on the stack");
    size_t m = marks_.back();
    marks_.pop_back();
    std::vector<uint32_t> items(stack_.begin() + (std::ptrdiff_t)m, stack_.end());
    stack_.resize(m);
    return items;
  }
  Value& val(uint32_t i) { return out_.values[i]; }
  Value& container(uint32_t i, Kind k, const char* op) {
    Value& v = val(i);
    if (v.kind != k) bad(op, " on a ", kind_name(v.kind), ", expected a ", kind_name(k));
    return v;
  }
  uint32_t tuple(std::vector<uint32_t> items) {
    Value v;
    v.kind = Kind::Tuple;
    v.items = std::move(items);
    return make(std::move(v));
  }
  void memo_put(uint32_t idx) {
    if (memo_.size() >= kMaxValues) bad("memo too large");
    memo_[idx] = top();
  }
  void memo_get(uint32_t idx) {
    auto it = memo_.find(idx);
    if (it == memo_.end()) bad("memo key ", idx, " was never stored");
    push(it->second);
  }

  uint32_t global(const std::string& module, const std::string& name) {
    std::string g = module + "." + name;
    const Allowed* a = find_allowed(g);
    if (!a) bad("refusing global ", printable(g), " (not one that a state dict uses; nothing is executed)");
    Value v;
    v.kind = Kind::Global;
    v.s = g;
    return make(std::move(v));
  }

  // Checked accessors for REDUCE arguments.
  int64_t as_int(uint32_t i, const char* what) {
    const Value& v = val(i);
    if (v.kind != Kind::Int && v.kind != Kind::Bool) bad(what, " must be an int, got ", kind_name(v.kind));
    return v.i;
  }
  std::vector<int64_t> as_ints(uint32_t i, const char* what) {
    const Value& v = val(i);
    if (v.kind != Kind::Tuple && v.kind != Kind::List) bad(what, " must be a tuple, got ", kind_name(v.kind));
    if (v.items.size() > 64) bad(what, " has ", v.items.size(), " dimensions");
    std::vector<int64_t> r;
    for (uint32_t e : v.items) r.push_back(as_int(e, what));
    return r;
  }
  uint32_t tensor_arg(uint32_t i, const char* fn) {
    if (val(i).kind != Kind::Tensor) bad(fn, " expects a tensor, got ", kind_name(val(i).kind));
    return i;
  }

  // Interprets a call of an allowed global. Nothing is executed: each case builds a value.
  uint32_t call(const std::string& fn, uint32_t args_i, int depth = 0) {
    const Value& args = val(args_i);
    if (args.kind != Kind::Tuple) bad("arguments of ", fn, " are a ", kind_name(args.kind), ", not a tuple");
    std::vector<uint32_t> a = args.items;  // copy: make() may reallocate values
    if (fn == "collections.OrderedDict") {
      if (!a.empty()) bad("collections.OrderedDict called with arguments");
      return make_kind(Kind::Dict);
    }
    if (fn == "torch._utils._rebuild_tensor_v2" || fn == "torch._utils._rebuild_tensor") {
      bool v2 = fn.back() == '2';
      if (v2 ? (a.size() != 6 && a.size() != 7) : a.size() != 4) bad(fn, " with ", a.size(), " arguments");
      if (val(a[0]).kind != Kind::Storage) bad(fn, ": first argument is a ", kind_name(val(a[0]).kind), ", not a storage");
      TensorRef t;
      t.storage = (uint32_t)val(a[0]).i;
      t.offset = as_int(a[1], "storage offset");
      t.size = as_ints(a[2], "size");
      t.stride = as_ints(a[3], "stride");
      if (t.size.size() != t.stride.size()) bad(fn, ": size has ", t.size.size(), " dims but stride ", t.stride.size());
      out_.tensors.push_back(std::move(t));
      return make_int((int64_t)out_.tensors.size() - 1, Kind::Tensor);
    }
    if (fn == "torch._utils._rebuild_parameter" || fn == "torch._utils._rebuild_parameter_with_state") {
      if (a.size() != (fn == "torch._utils._rebuild_parameter_with_state" ? 4u : 3u)) bad(fn, " with ", a.size(), " arguments");
      return tensor_arg(a[0], fn.c_str());
    }
    if (fn == "torch._tensor._rebuild_from_type_v2") {
      // (func, type, args, state): applies func, an allowed rebuild function, to args.
      if (a.size() != 4 || depth > 0) bad(fn, " with unexpected arguments");
      const Value& f = val(a[0]);
      const Value& ty = val(a[1]);
      if (f.kind != Kind::Global || ty.kind != Kind::Global) bad(fn, ": function and type must be globals");
      if (ty.s != "torch.Tensor" && ty.s != "torch.nn.parameter.Parameter") bad(fn, ": unsupported type ", ty.s);
      std::string inner = f.s;
      return tensor_arg(call(inner, a[2], depth + 1), fn.c_str());
    }
    bad("refusing to call ", fn, " (only tensor and OrderedDict reconstruction is allowed)");
  }

  void persistent(uint32_t pid_i) {
    const Value& pid = val(pid_i);
    if (pid.kind != Kind::Tuple) bad("persistent id is a ", kind_name(pid.kind), ", not a tuple");
    const auto& it = pid.items;
    if ((it.size() != 5 && it.size() != 6) || val(it[0]).kind != Kind::Str || val(it[0]).s != "storage")
      bad("persistent id is not a ('storage', type, key, location, numel) tuple");
    const Value& ty = val(it[1]);
    const Allowed* a = ty.kind == Kind::Global ? find_allowed(ty.s) : nullptr;
    if (!a || !a->storage) bad("persistent id names ", ty.kind == Kind::Global ? printable(ty.s) : kind_name(ty.kind),
                               ", not a storage type");
    if (val(it[2]).kind != Kind::Str) bad("storage key is a ", kind_name(val(it[2]).kind), ", not a str");
    StorageRef s;
    s.key = val(it[2]).s;
    s.dtype = a->dtype;
    int64_t numel = as_int(it[4], "storage size");
    if (numel < 0) bad("storage ", qstr(s.key), " has negative size ", numel);
    s.numel = s.root_numel = (uint64_t)numel;
    if (it.size() == 6 && val(it[5]).kind != Kind::None) {  // legacy view: (view_key, offset, size)
      const Value& vm = val(it[5]);
      if (vm.kind != Kind::Tuple || vm.items.size() != 3) bad("storage ", qstr(s.key), ": bad view metadata");
      int64_t off = as_int(vm.items[1], "view offset"), sz = as_int(vm.items[2], "view size");
      if (off < 0 || sz < 0 || (uint64_t)off > s.root_numel || (uint64_t)sz > s.root_numel - (uint64_t)off)
        bad("storage ", qstr(s.key), ": view [", off, ", +", sz, ") outside its ", s.root_numel, " elements");
      s.view_offset = (uint64_t)off;
      s.numel = (uint64_t)sz;
    }
    out_.storages.push_back(std::move(s));
    push(make_int((int64_t)out_.storages.size() - 1, Kind::Storage));
  }

  void step(uint8_t op) {
    switch (op) {
      case 0x80: {  // PROTO
        uint64_t v = uint_le(1);
        if (v > 5) bad("unsupported pickle protocol ", v);
        return;
      }
      case 0x95: take(8); return;  // FRAME: a length hint only
      case '(': marks_.push_back(stack_.size()); return;
      case '0': pop(); return;
      case '1': pop_mark(); return;
      case '2': push(top()); return;
      case 'N': push(make_kind(Kind::None)); return;
      case 0x88: push(make_int(1, Kind::Bool)); return;
      case 0x89: push(make_int(0, Kind::Bool)); return;
      case 'J': push(make_int((int32_t)(uint32_t)uint_le(4))); return;
      case 'K': push(make_int((int64_t)uint_le(1))); return;
      case 'M': push(make_int((int64_t)uint_le(2))); return;
      case 0x8a: case 0x8b: {  // LONG1, LONG4: little-endian two's complement
        uint64_t len = uint_le(op == 0x8a ? 1 : 4);
        if (len > 4096) bad("integer of ", len, " bytes");
        const uint8_t* b = take(len);
        if (len <= 8) {
          uint64_t v = 0;
          for (int i = (int)len - 1; i >= 0; i--) v = (v << 8) | b[i];
          if (len > 0 && len < 8 && (b[len - 1] & 0x80)) v |= ~0ull << (8 * len);  // sign-extend
          push(make_int((int64_t)v));
        } else {
          push(make_str(Kind::BigInt, b, len));
        }
        return;
      }
      case 'G': {  // BINFLOAT, big-endian
        const uint8_t* b = take(8);
        uint64_t u = 0;
        for (int i = 0; i < 8; i++) u = (u << 8) | b[i];
        Value v;
        v.kind = Kind::Float;
        std::memcpy(&v.f, &u, 8);
        push(make(std::move(v)));
        return;
      }
      case 'X': case 0x8c: case 0x8d: case 'T': case 'U': {  // unicode / py2 str
        uint64_t len = uint_le(op == 0x8c || op == 'U' ? 1 : op == 0x8d ? 8 : 4);
        push(make_str(Kind::Str, take(len), len));
        return;
      }
      case 'B': case 'C': case 0x8e: {
        uint64_t len = uint_le(op == 'C' ? 1 : op == 0x8e ? 8 : 4);
        push(make_str(Kind::Bytes, take(len), len));
        return;
      }
      case ')': push(tuple({})); return;
      case 't': push(tuple(pop_mark())); return;
      case 0x85: case 0x86: case 0x87: {
        size_t k = op - 0x84;
        std::vector<uint32_t> items(k);
        for (size_t i = k; i-- > 0;) items[i] = pop();
        push(tuple(std::move(items)));
        return;
      }
      case ']': push(make_kind(Kind::List)); return;
      case 'l': {
        auto items = pop_mark();
        uint32_t l = make_kind(Kind::List);
        val(l).items = std::move(items);
        push(l);
        return;
      }
      case 'a': {
        uint32_t x = pop();
        container(top(), Kind::List, "APPEND").items.push_back(x);
        return;
      }
      case 'e': {
        auto items = pop_mark();
        auto& l = container(top(), Kind::List, "APPENDS").items;
        l.insert(l.end(), items.begin(), items.end());
        return;
      }
      case '}': push(make_kind(Kind::Dict)); return;
      case 'd': case 'u': {
        auto items = pop_mark();
        if (items.size() % 2) bad(op == 'd' ? "DICT" : "SETITEMS", " with an odd number of items");
        uint32_t d = op == 'd' ? make_kind(Kind::Dict) : top();
        auto& m = container(d, Kind::Dict, "SETITEMS").items;
        m.insert(m.end(), items.begin(), items.end());
        if (op == 'd') push(d);
        return;
      }
      case 's': {
        uint32_t v = pop(), k = pop();
        auto& m = container(top(), Kind::Dict, "SETITEM").items;
        m.push_back(k);
        m.push_back(v);
        return;
      }
      case 'c': {
        std::string module = line();
        std::string name = line();
        push(global(module, name));
        return;
      }
      case 0x93: {  // STACK_GLOBAL
        uint32_t n = pop(), m = pop();
        if (val(m).kind != Kind::Str || val(n).kind != Kind::Str) bad("STACK_GLOBAL needs two strings");
        std::string module = val(m).s, name = val(n).s;
        push(global(module, name));
        return;
      }
      case 'R': {
        uint32_t args = pop(), fn = pop();
        if (val(fn).kind != Kind::Global) bad("REDUCE on a ", kind_name(val(fn).kind), ", not a global");
        std::string name = val(fn).s;
        push(call(name, args));
        return;
      }
      case 'b': {  // BUILD: OrderedDict's _metadata and similar instance state are ignored
        pop();
        Kind k = val(top()).kind;
        if (k != Kind::Dict && k != Kind::Tensor) bad("BUILD on a ", kind_name(k));
        return;
      }
      case 'Q': persistent(pop()); return;
      case 'q': memo_put((uint32_t)uint_le(1)); return;
      case 'r': memo_put((uint32_t)uint_le(4)); return;
      case 0x94: memo_put((uint32_t)memo_.size()); return;
      case 'h': memo_get((uint32_t)uint_le(1)); return;
      case 'j': memo_get((uint32_t)uint_le(4)); return;
      default: {
        char c = (op >= 0x20 && op < 0x7f) ? (char)op : '?';
        static const char* hex = "0123456789abcdef";
        std::string h = {hex[op >> 4], hex[op & 15]};
        bad("unsupported pickle opcode 0x", h, op >= 0x20 && op < 0x7f ? std::string(" '") + c + "'" : std::string(),
            " (not used by state dicts; refusing)");
      }
    }
  }
};

}  // namespace

Pickle unpickle(const std::string& what, const uint8_t* data, size_t size, size_t* pos) {
  ISH_CHECK(*pos <= size, what, ": pickle starts past the end of the data");
  Unpickler u(what, data, size, *pos);
  return u.run(pos);
}

}  // namespace ish::weights::pkl
