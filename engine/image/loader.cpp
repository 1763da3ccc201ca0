// Batch loader (see loader.h). Work unit: one image. Each batch owns a slot of memory; workers fill
// slots in batch order, and the caller takes completed slots strictly in order.
#include "engine/image/loader.h"

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

#include "engine/error.h"
#include "engine/threads.h"

namespace ish::img {

static uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t sample_seed(uint64_t seed, int64_t epoch, int64_t index) {
  uint64_t h = mix64(seed + 0x9E3779B97F4A7C15ull);
  h = mix64(h ^ ((uint64_t)epoch + 0x632BE59BD9B4E019ull));
  return mix64(h ^ ((uint64_t)index + 0x8CB92BA72F3D8DD7ull));
}

std::vector<int64_t> epoch_order(int64_t n, uint64_t seed, int64_t epoch, bool shuffle) {
  std::vector<int64_t> order(n);
  for (int64_t i = 0; i < n; i++) order[i] = i;
  if (!shuffle) return order;
  Rng rng(sample_seed(seed, epoch, -1));  // index -1: no sample uses it
  for (int64_t i = n - 1; i > 0; i--) std::swap(order[i], order[(int64_t)rng.below((uint64_t)i + 1)]);
  return order;
}

int resolve_threads(int threads) {
  return threads > 0 ? threads : ish::threads();  // 0: the process's budget (--threads, engine/threads.h)
}

void set_threads(LoaderOptions& o, int threads, bool compute_on_host) {
  o.threads = resolve_threads(threads);
  o.prefetch = compute_on_host ? 0 : 2;
}

void transform_one(const Image& im, const Transform& t, Rng* aug, PixelFormat fmt, const NormLut& lut,
                   std::vector<uint8_t>& u8buf, void* dst) {
  const size_t npix = (size_t)t.crop * t.crop;
  u8buf.resize(npix * 3);
  uint8_t* u8 = u8buf.data();
  if (aug) apply_train(view(im), t, *aug, u8);
  else apply_eval(view(im), t, u8);
  if (fmt == PixelFormat::F32) normalize(u8, npix, lut, static_cast<float*>(dst));
  else pack_channels(u8, npix, t.channels(), static_cast<uint8_t*>(dst));
}

void load_one(const Source& src, int64_t index, const LoaderOptions& opt, const NormLut& lut, Image& im,
              std::vector<uint8_t>& u8buf, void* dst) {
  src.read(index, im);
  if (!opt.train) return transform_one(im, opt.transform, nullptr, opt.format, lut, u8buf, dst);
  Rng rng(sample_seed(opt.seed, opt.epoch, index));
  transform_one(im, opt.transform, &rng, opt.format, lut, u8buf, dst);
}

namespace {
struct Slot {
  void* data = nullptr;
  int64_t batch = -1;
  int count = 0, next_item = 0, pending = 0;
  std::vector<char> ok;
  std::vector<std::string> err;
  Batch out;
};
}  // namespace

struct Loader::Impl {
  std::unique_ptr<ListSource> owned;
  const Source* src;
  LoaderOptions opt;
  std::vector<int64_t> order;
  NormLut lut;
  size_t img_bytes = 0;
  int64_t nbatches = 0;
  std::vector<Slot> slots;
  std::deque<int> free_slots, active;  // active: slots with items not yet started, in batch order
  int64_t next_sched = 0, next_take = 0;
  int held = -1;
  int64_t n_skipped = 0, n_loaded = 0;
  bool stop = false;
  std::mutex m;
  std::condition_variable cv_work, cv_done;
  std::vector<std::thread> workers;

  Impl(const Source* s, LoaderOptions o, std::vector<int64_t> ord)
      : src(s), opt(std::move(o)), order(std::move(ord)), lut(opt.transform.norm) {}

  int64_t batch_begin(int64_t b) const { return b * opt.batch_size; }
  int batch_count(int64_t b) const {
    return (int)std::min<int64_t>(opt.batch_size, (int64_t)order.size() - batch_begin(b));
  }

  void schedule_locked() {
    bool any = false;
    while (!free_slots.empty() && next_sched < nbatches) {
      const int s = free_slots.front();
      free_slots.pop_front();
      Slot& sl = slots[s];
      sl.batch = next_sched++;
      sl.count = batch_count(sl.batch);
      sl.next_item = 0;
      sl.pending = sl.count;
      sl.ok.assign(sl.count, 0);
      sl.err.assign(sl.count, std::string());
      active.push_back(s);
      any = true;
    }
    if (any) cv_work.notify_all();
  }

  void run_item(int s, int k) {
    thread_local Image im;
    thread_local std::vector<uint8_t> u8buf;
    Slot& sl = slots[s];
    const int64_t idx = order[batch_begin(sl.batch) + k];
    char* dst = static_cast<char*>(sl.data) + (size_t)k * img_bytes;
    try {
      load_one(*src, idx, opt, lut, im, u8buf, dst);
      sl.ok[k] = 1;
    } catch (const std::exception& e) {
      sl.err[k] = str(src->where(idx), ": ", e.what());
    }
  }

  void worker() {
    std::unique_lock<std::mutex> lk(m);
    for (;;) {
      cv_work.wait(lk, [&] { return stop || !active.empty(); });
      if (stop) return;
      const int s = active.front();
      const int k = slots[s].next_item++;
      if (slots[s].next_item == slots[s].count) active.pop_front();
      lk.unlock();
      run_item(s, k);
      lk.lock();
      if (--slots[s].pending == 0) cv_done.notify_all();
    }
  }

  // Moves the good images to the front, in order, and fills the Batch.
  void finish(Slot& sl) {
    Batch& b = sl.out;
    b.number = sl.batch;
    b.h = b.w = opt.transform.crop;
    b.c = opt.transform.channels();
    b.format = opt.format;
    b.data = sl.data;
    b.labels.clear();
    b.indices.clear();
    b.skipped.clear();
    int n = 0;
    for (int k = 0; k < sl.count; k++) {
      const int64_t idx = order[batch_begin(sl.batch) + k];
      if (!sl.ok[k]) {
        b.skipped.push_back(sl.err[k]);
        continue;
      }
      if (n != k) {
        char* base = static_cast<char*>(sl.data);
        std::memmove(base + (size_t)n * img_bytes, base + (size_t)k * img_bytes, img_bytes);
      }
      b.labels.push_back(src->label(idx));
      b.indices.push_back(idx);
      n++;
    }
    b.n = n;
  }
};

Loader::Loader(const ImgList& list, LoaderOptions opt, std::vector<int64_t> order)
    : impl_(new Impl(nullptr, std::move(opt), std::move(order))) {
  impl_->owned = std::make_unique<ListSource>(list, impl_->opt.decode);
  impl_->src = impl_->owned.get();
  start();
}

Loader::Loader(const Source& src, LoaderOptions opt, std::vector<int64_t> order)
    : impl_(new Impl(&src, std::move(opt), std::move(order))) {
  start();
}

void Loader::start() {
  Impl& I = *impl_;
  const LoaderOptions& o = I.opt;
  ISH_CHECK(o.batch_size > 0, "loader: batch size must be > 0");
  ISH_CHECK(o.threads >= 0 && o.prefetch >= 0, "loader: need threads >= 0 and prefetch >= 0");
  o.transform.validate();
  const int64_t N = I.src->size();
  if (I.order.empty()) {
    I.order.resize(N);
    for (int64_t i = 0; i < N; i++) I.order[i] = i;
  }
  for (int64_t v : I.order) ISH_CHECK(v >= 0 && v < N, "loader: order index ", v, " outside the list of ", N);
  const int64_t M = (int64_t)I.order.size();
  I.nbatches = o.drop_last ? M / o.batch_size : (M + o.batch_size - 1) / o.batch_size;
  I.img_bytes = (size_t)o.transform.crop * o.transform.crop * o.transform.channels() *
                (o.format == PixelFormat::F32 ? sizeof(float) : 1);
  const size_t slot_bytes = I.img_bytes * o.batch_size;
  const int nslots = o.prefetch + 1;  // +1: the batch the caller holds
  I.slots.resize(nslots);
  for (int s = 0; s < nslots; s++) {
    void* p = o.allocator.alloc ? o.allocator.alloc(slot_bytes) : std::aligned_alloc(64, (slot_bytes + 63) / 64 * 64);
    ISH_CHECK(p, "loader: cannot allocate ", slot_bytes, " bytes for a batch");
    I.slots[s].data = p;
    I.free_slots.push_back(s);
  }
  std::lock_guard<std::mutex> lk(I.m);
  I.schedule_locked();
  for (int t = 0; t < o.threads; t++) I.workers.emplace_back([&I] { I.worker(); });
}

Loader::~Loader() {
  Impl& I = *impl_;
  {
    std::lock_guard<std::mutex> lk(I.m);
    I.stop = true;
  }
  I.cv_work.notify_all();
  for (auto& t : I.workers) t.join();
  for (auto& s : I.slots) {
    if (I.opt.allocator.free) I.opt.allocator.free(s.data);
    else if (!I.opt.allocator.alloc) std::free(s.data);
  }
}

const Batch* Loader::next() {
  Impl& I = *impl_;
  std::unique_lock<std::mutex> lk(I.m);
  if (I.held >= 0) {
    I.slots[I.held].batch = -1;
    I.free_slots.push_back(I.held);
    I.held = -1;
    I.schedule_locked();
  }
  if (I.next_take >= I.nbatches) return nullptr;
  int s = -1;
  for (int i = 0; i < (int)I.slots.size(); i++)
    if (I.slots[i].batch == I.next_take) s = i;
  ISH_ASSERT(s >= 0, "batch ", I.next_take, " was not scheduled");
  Slot& sl = I.slots[s];
  if (I.opt.threads == 0) {  // no pool: do this batch's items here
    while (sl.next_item < sl.count) {
      const int k = sl.next_item++;
      if (sl.next_item == sl.count) I.active.erase(std::find(I.active.begin(), I.active.end(), s));
      lk.unlock();
      I.run_item(s, k);
      lk.lock();
      sl.pending--;
    }
  }
  I.cv_done.wait(lk, [&] { return sl.pending == 0; });
  I.held = s;
  I.next_take++;
  lk.unlock();
  I.finish(sl);
  I.n_skipped += (int64_t)sl.out.skipped.size();
  I.n_loaded += sl.out.n;
  if (I.opt.strict && !sl.out.skipped.empty()) fail(sl.out.skipped.front(), " (--strict)");
  if (I.opt.warn)
    for (const auto& w : sl.out.skipped) std::fprintf(stderr, "warning: skipping %s\n", w.c_str());
  return &sl.out;
}

int64_t Loader::num_batches() const { return impl_->nbatches; }
int64_t Loader::skipped() const { return impl_->n_skipped; }
int64_t Loader::loaded() const { return impl_->n_loaded; }

}  // namespace ish::img
