// The up-front check of everything an evaluation will read (see check_lists in run.h).
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

#include "engine/error.h"
#include "eval/run.h"

namespace ish::eval {
namespace {

bool is_dir(const std::string& p) {
  struct stat sb;
  return stat(p.c_str(), &sb) == 0 && S_ISDIR(sb.st_mode);
}

// "" when `p` is a readable regular file, else why not.
std::string file_problem(const std::string& p) {
  struct stat sb;
  if (stat(p.c_str(), &sb) != 0) return "not found";
  if (S_ISDIR(sb.st_mode)) return "is a directory";
  FILE* f = std::fopen(p.c_str(), "rb");
  if (!f) return "cannot be read";
  std::fclose(f);
  return "";
}

// Labels of an ID list must name a class of the model: count and first offender.
std::string label_problem(const std::string& key, const img::ImgList& l, int64_t classes) {
  int64_t bad = 0;
  size_t first = 0;
  for (size_t i = 0; i < l.items.size(); i++)
    if (l.items[i].label < 0 || l.items[i].label >= classes) first = bad++ ? first : i;
  if (!bad) return "";
  return str(key, ": ", bad, " of ", l.items.size(), " labels lie outside [0, ", classes, ") (the model's classes); first ",
             l.where(first), " (label ", l.items[first].label, ")");
}

// Up to 16 evenly spaced image paths (first and last included) must exist: catches a wrong root cheaply.
std::string sample_problem(const std::string& key, const img::ImgList& l) {
  const size_t n = l.items.size(), k = std::min<size_t>(n, 16);
  std::set<size_t> idx;
  for (size_t j = 0; j < k; j++) idx.insert(k > 1 ? j * (n - 1) / (k - 1) : 0);
  size_t missing = 0, first = 0;
  for (size_t i : idx) {
    struct stat sb;
    if (stat(l.items[i].path.c_str(), &sb) != 0) first = missing++ ? first : i;
  }
  if (!missing) return "";
  return str(key, ": ", missing, " of ", idx.size(), " sampled images missing, first ", l.items[first].path, " (",
             l.where(first), ")");
}

}  // namespace

std::map<std::string, img::ImgList> check_lists(const std::vector<ListCheck>& lists, int64_t classes,
                                                std::vector<std::string>* problems) {
  std::map<std::string, img::ImgList> out;
  std::map<std::string, std::vector<std::string>> missing_roots;  // root -> the lists whose images it holds
  std::vector<std::string> found;
  for (const ListCheck& c : lists) {
    const std::string why = file_problem(c.spec.list);
    img::ImgList l;
    if (!why.empty()) {
      found.push_back(str(c.key, ": list file ", why, ": ", c.spec.list));
    } else {
      try {
        l = img::read_imglist(c.spec.list, c.spec.root);
      } catch (const Error& e) {
        found.push_back(str(c.key, ": ", e.what()));
      }
    }
    const bool listed = !l.items.empty();
    if (listed && c.id) {
      const std::string p = label_problem(c.key, l, classes);
      if (!p.empty()) found.push_back(p);
    }
    // The image folder matters unless every feature comes from the cache.
    if (!listed || !c.reads_images || c.reads_images(l)) {
      if (!is_dir(c.spec.root)) {
        missing_roots[c.spec.root].push_back(c.key);
      } else if (listed) {
        const std::string p = sample_problem(c.key, l);
        if (!p.empty()) found.push_back(p);
      }
    }
    if (listed) out[c.key] = std::move(l);
  }
  for (auto& [root, keys] : missing_roots) {
    std::string who;
    for (auto& k : keys) who += (who.empty() ? "" : ", ") + k;
    problems->push_back(str("image folder not found: ", root, " (for ", who, ")"));
  }
  problems->insert(problems->end(), found.begin(), found.end());
  return out;
}

}  // namespace ish::eval
