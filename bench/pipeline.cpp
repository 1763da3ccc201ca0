// `ishscale bench --pipeline [--images DIR | FILES...] [--threads N] [--repeat R] [--json FILE]`
// Eval preprocessing throughput on the CPU: read + decode + Resize(256) + CenterCrop(224) + normalise
// to float, per image, next to PIL + torchvision (tools/pipeline_baseline.py, one thread) on the same
// files in the same run. The ratio compares images/s per core.
#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstring>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <thread>

#include "bench/bench.h"
#include "engine/error.h"
#include "engine/image/image.h"
#include "engine/image/transform.h"
#include "util/fs.h"

namespace ish::bench {
namespace {

using Clock = std::chrono::steady_clock;
double secs(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }
double cpu_now() {  // CPU seconds of the whole process (all threads)
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

const char* kDefaultImages[] = {
    "/usr/share/matplotlib/mpl-data/sample_data/grace_hopper.jpg",
    "/usr/lib/python3/dist-packages/sklearn/datasets/images/china.jpg",
    "/usr/lib/python3/dist-packages/sklearn/datasets/images/flower.jpg",
};

std::vector<std::string> list_dir(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  ISH_CHECK(d, "bench: cannot open image directory ", dir);
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    std::string low = n;
    std::transform(low.begin(), low.end(), low.begin(), ::tolower);
    for (const char* ext : {".jpg", ".jpeg", ".png"})
      if (low.size() > std::strlen(ext) && low.compare(low.size() - std::strlen(ext), std::string::npos, ext) == 0)
        out.push_back(dir + "/" + n);
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// tools/pipeline_baseline.py: next to the working directory, or two levels above the binary.
std::string find_baseline_script() {
  if (access("tools/pipeline_baseline.py", R_OK) == 0) return "tools/pipeline_baseline.py";
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    std::string p(exe, (size_t)n);
    for (int up = 0; up < 3 && p.find('/') != std::string::npos; up++) {
      p = p.substr(0, p.rfind('/'));
      std::string cand = p + "/tools/pipeline_baseline.py";
      if (access(cand.c_str(), R_OK) == 0) return cand;
    }
  }
  return "";
}

struct Timing { double seconds = 0, cpu_s = 0, decode_s = 0; int64_t images = 0; };

// One thread's work: every file `repeat` times, from the file on disk to normalised floats.
Timing run_ours(const std::vector<std::string>& files, int repeat, int resize, int crop, bool split) {
  img::Image im;
  std::vector<uint8_t> u8((size_t)crop * crop * 3);
  std::vector<float> f(u8.size());
  const img::NormLut lut;
  Timing t;
  const auto t0 = Clock::now();
  for (int r = 0; r < repeat; r++) {
    for (const auto& path : files) {
      const auto a = split ? Clock::now() : Clock::time_point();
      img::decode_file(path, im);
      if (split) t.decode_s += secs(a, Clock::now());
      img::eval_u8(img::view(im), resize, crop, crop, u8.data());
      img::normalize(u8.data(), (size_t)crop * crop, lut, f.data());
      t.images++;
    }
  }
  t.seconds = secs(t0, Clock::now());
  return t;
}

struct Rate { double wall = 0, cpu = 0; };  // images per wall second, per CPU second

// Runs tools/pipeline_baseline.py once.
Rate run_baseline(const std::string& python, const std::string& script, const std::vector<std::string>& files,
                    int repeat, int resize, int crop) {
  std::string cmd = shell_quote(python) + " " + shell_quote(script) + " --repeat " + std::to_string(repeat) +
                    " --resize " + std::to_string(resize) + " --crop " + std::to_string(crop);
  for (const auto& f : files) cmd += " " + shell_quote(f);
  FILE* p = popen(cmd.c_str(), "r");
  ISH_CHECK(p, "bench: cannot run ", cmd);
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  const int rc = pclose(p);
  const size_t brace = out.rfind('{');
  ISH_CHECK(rc == 0 && brace != std::string::npos, "bench: the PIL baseline failed (exit ", rc, "): ", cmd);
  const auto j = nlohmann::json::parse(out.substr(brace));
  return Rate{j.at("img_per_s").get<double>(), j.at("img_per_cpu_s").get<double>()};
}

}  // namespace

int run_pipeline(const PipelineOptions& o) {
  std::vector<std::string> files;
  for (const auto& d : o.files) {
    auto more = access((d + "/.").c_str(), F_OK) == 0 ? list_dir(d) : std::vector<std::string>{d};
    files.insert(files.end(), more.begin(), more.end());
  }
  const int threads = o.threads, repeat = o.repeat, nrounds = o.rounds, resize = o.resize, crop = o.crop;
  const bool baseline = o.baseline;
  const std::string& json_path = o.json;
  const std::string& python = o.python;
  std::string script = o.baseline_script;
  if (files.empty())
    for (const char* p : kDefaultImages) files.push_back(p);
  ISH_CHECK(!files.empty(), "bench: no images");
  ISH_CHECK(threads >= 1 && repeat >= 1 && nrounds >= 1, "bench: --threads, --repeat and --rounds must be >= 1");

  // Warm the page cache and the buffers; files that do not decode are left out (with a warning).
  std::vector<std::string> good;
  for (const auto& f : files) {
    try {
      run_ours({f}, 1, resize, crop, false);
      good.push_back(f);
    } catch (const Error& e) {
      std::fprintf(stderr, "warning: bench: leaving out %s\n", e.what());
    }
  }
  files.swap(good);
  ISH_CHECK(!files.empty(), "bench: no decodable images");
  if (baseline && script.empty()) script = find_baseline_script();
  ISH_CHECK(!baseline || !script.empty(),
            "bench: tools/pipeline_baseline.py not found (use --baseline-script or --no-baseline)");

  // Rounds alternate ours and PIL so both see the same machine load; the best round of each counts
  // (the least disturbed by other processes on a shared machine).
  nlohmann::json rounds = nlohmann::json::array();
  Timing best;
  double best_ips = 0, best_cpu = 0;
  Rate best_pil;
  for (int r = 0; r < nrounds; r++) {
    Timing ours;
    const double c0 = cpu_now();
    if (threads == 1) {
      ours = run_ours(files, repeat, resize, crop, true);
    } else {
      std::vector<Timing> per(threads);
      std::vector<std::thread> pool;
      const auto t0 = Clock::now();
      for (int t = 0; t < threads; t++)
        pool.emplace_back([&, t] { per[t] = run_ours(files, repeat, resize, crop, false); });
      for (auto& th : pool) th.join();
      ours.seconds = secs(t0, Clock::now());
      for (auto& p : per) ours.images += p.images;
    }
    ours.cpu_s = cpu_now() - c0;
    const double ips = ours.images / ours.seconds, cps = ours.images / ours.cpu_s;
    nlohmann::json rj = {{"ours_img_per_s", ips}, {"ours_img_per_cpu_s", cps}, {"ours_images", ours.images},
                         {"ours_seconds", ours.seconds}, {"ours_cpu_seconds", ours.cpu_s}};
    if (ips > best_ips) { best_ips = ips; best = ours; }
    best_cpu = std::max(best_cpu, cps);
    if (baseline) {
      const Rate pil = run_baseline(python, script, files, repeat, resize, crop);
      rj["pil_img_per_s"] = pil.wall;
      rj["pil_img_per_cpu_s"] = pil.cpu;
      best_pil.wall = std::max(best_pil.wall, pil.wall);
      best_pil.cpu = std::max(best_pil.cpu, pil.cpu);
    }
    rounds.push_back(rj);
  }
  const double ours_core = best_ips / threads;
  std::printf("pipeline bench: %zu file(s) x %d repeats, best of %d rounds, resize %d, crop %d, float HWC output\n",
              files.size(), repeat, nrounds, resize, crop);
  std::printf("  ishscale          : %8.1f img/s with %d thread(s) = %8.1f img/s per core (%7.1f per CPU-second)\n",
              best_ips, threads, ours_core, best_cpu);
  if (threads == 1)
    std::printf("    (decode %.2f ms/img, resize+crop+normalise %.2f ms/img)\n", 1e3 * best.decode_s / best.images,
                1e3 * (best.seconds - best.decode_s) / best.images);
  nlohmann::json j = {{"files", files},   {"repeat", repeat}, {"rounds", rounds}, {"threads", threads},
                      {"resize", resize}, {"crop", crop},     {"ours_img_per_s", best_ips},
                      {"ours_img_per_s_per_core", ours_core}, {"ours_img_per_cpu_s", best_cpu}};
  if (threads == 1) j["ours_decode_ms_per_img"] = 1e3 * best.decode_s / best.images;
  if (baseline) {
    std::printf("  PIL + torchvision : %8.1f img/s with 1 thread  = %8.1f img/s per core (%7.1f per CPU-second)\n",
                best_pil.wall, best_pil.wall, best_pil.cpu);
    std::printf("  ratio (per core)  : %8.2fx wall clock, %.2fx CPU time\n", ours_core / best_pil.wall,
                best_cpu / best_pil.cpu);
    j["pil_img_per_s"] = best_pil.wall;
    j["pil_img_per_cpu_s"] = best_pil.cpu;
    j["ratio_per_core"] = ours_core / best_pil.wall;
    j["ratio_cpu_time"] = best_cpu / best_pil.cpu;
  }
  if (!json_path.empty()) util::atomic_write(json_path, j.dump(2) + "\n");
  return 0;
}

}  // namespace ish::bench
