// ishscale eval: the OpenOOD v1.5 OOD benchmark (flags mirror the reference's eval_ood_imagenet.py).
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <thread>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "cli/model_flags.h"
#include "engine/device.h"
#include "engine/error.h"
#include "engine/threads.h"
#include "eval/fsood.h"
#include "eval/params.h"
#include "eval/reference.h"
#include "eval/run.h"

namespace ish::cli {
namespace {

void usage() {
  std::printf(
      "usage: ishscale eval --weights W [--postprocessor NAME|all] (--benchmark imagenet | --id-test LIST\n"
      "                     --near NAME=LIST... --far NAME=LIST...) [--data-root DIR] [--out DIR] [flags]\n"
      "%s"
      "  --postprocessor         msp mls ebo react ash ash_p ash_s scale gen knn vim mds odin nci fdbd nnguide\n"
      "                          caref cadref optfs adascale_a adascale_l, a comma list, or all\n"
      "                          (default msp, as the reference script)\n"
      "  --benchmark imagenet    OpenOOD v1.5 ImageNet-1K: --data-root is the OpenOOD data folder, holding\n"
      "                          benchmark_imglist/imagenet/*.txt, images_largescale/ and images_classic/ (README:\n"
      "                          'Benchmark layout'); lists given by the flags below replace its own, their image\n"
      "                          paths relative to DATA_ROOT/images_largescale/ as in OpenOOD's lists\n"
      "  --id-test, --id-val, --ood-val, --id-train LIST   explicit lists ('path label' lines); LIST itself is\n"
      "                          relative to the working directory, the image paths inside it to --data-root\n"
      "  --near NAME=LIST, --far NAME=LIST                 OOD test lists (repeatable; LIST as above)\n"
      "  --csid NAME=LIST        FS-OOD: a covariate-shifted ID list (repeatable; LIST as above; labels are class\n"
      "                          indices), scored as ID: ID test + every csid set against each OOD set. A set named\n"
      "                          imagenet_c is only normalised (no resize or crop): its images must be 224x224,\n"
      "                          another size is skipped and counted (--strict: an error)\n"
      "  --fsood                 with --benchmark imagenet: add csid imagenet_v2, imagenet_c, imagenet_r,\n"
      "                          imagenet_es (test_imagenet_{v2,c,r,es}.txt). FS-OOD writes fsood/<pp>.csv (same\n"
      "                          rows as ood/<pp>.csv, ACC pooled over ID test + csid from the plain logits),\n"
      "                          scores/<pp>/csid/<name>/ with --save-score, and fsood, fsood_acc, csid_acc\n"
      "                          in results.json; ood/<pp>.csv is unchanged\n"
      "  --data-root DIR         default ./data: the folder image paths in the lists are relative to (with\n"
      "                          --benchmark imagenet: the OpenOOD data folder)\n"
      "                          Every list and image folder is checked before anything is extracted: ID labels\n"
      "                          in [0, classes), 16 sampled image paths per list; all problems are listed at once\n"
      "  --percentile P          fix react/ash/ash_p/ash_s/scale's percentile and skip their APS\n"
      "  --no-aps                use every detector's default hyper-parameters\n"
      "  --set PP.KEY=VALUE      fix one hyper-parameter (repeatable), e.g. --set knn.K=100 --set vim.dim=1000;\n"
      "                          a word where the key takes one: --set cadref.logit_method=Energy|MSP|MaxLogit|GEN.\n"
      "                          adascale_{a,l}: k1 sizes the perturbed-activation term and k2 the shift term\n"
      "                          (OpenOOD's names; the paper swaps them)\n"
      "  --out DIR               default results/<arch>: ood/<pp>.csv, scores/, results.json, report.html;\n"
      "                          results.json records the arch, width (ResNets), image size, resize,\n"
      "                          interpolation and --max-image-mb used. A run\n"
      "                          replaces the CSV (and scores/<pp>/) of each detector it runs and keeps the other\n"
      "                          detectors' CSVs (OpenOOD's convention); results.json ('this_run', 'csv') and the\n"
      "                          report say which detectors this run produced and when each CSV was written\n"
      "  --save-score            write scores/<pp>/<split>/<dataset>/{conf,pred,gt}.npy (adascale: also\n"
      "                          qprime.npy, percentile.npy, and the ECDF fit set's under scores/<pp>/fit/)\n"
      "  --save-aux              adascale: also feature_perturbed.npy [N,D] beside each qprime.npy\n"
      "  --save-csv              write ood/<pp>.csv (always on; accepted for compatibility)\n"
      "  --batch-size N          default 200 (the reference's)\n"
      "  --device cpu|cuda       default cuda when available\n"
      "  --threads N             the cores it may use, compute and decode together (default 0: all)\n"
      "  --cache-dir DIR         feature cache (default OUT/cache); --recompute ignores it\n"
      "  --strict                abort on a corrupt image instead of skipping and counting it\n"
      "Models: ResNets, ViTs and Swins (model flags above); a transformer's features (the head's input) are\n"
      "signed and every detector applies OpenOOD's formula to them as written. ViM's dim grid is OpenOOD's\n"
      "{256, 1000} less the dims >= the feature size: 768-d features (vit_b_16, swin_t) search {256} alone, which\n"
      "is what OpenOOD v1.5's sweep keeps for them (dim 1000 leaves an empty null space and NaN scores).\n"
      "Notes: APS keeps the FIRST strict maximum of the ID-val vs OOD-val AUROC (OpenOOD). ACC is the top-1 of\n"
      "the plain logits; results.json also gives each detector's own-prediction accuracy (the SCALE fork's\n"
      "number). Scores the reference leaves NaN (SCALE/ASH-S on an all-zero feature) are -inf and counted.\n"
      "Progress goes to stderr: a bar on a terminal, else a line every 5 s (ISHSCALE_PROGRESS=S|off).\n"
      "Exit: 0 every detector ran; 2 bad input (nothing run); 3 some detectors failed (one line each, listed in\n"
      "results.json 'failed' and the report), the others' outputs written.\n"
      "With --benchmark imagenet (and its own test lists), results.json and report.html show the OpenOOD v1.5\n"
      "leaderboard's ResNet-50 numbers beside the run's, each labelled torchvision V1 weights or ISH checkpoint.\n",
      model_flags_help(2).c_str());
  std::fputs(kTf32Help, stdout);
}

// The summary on stdout: near/far columns only for the splits this run has; failed detectors as rows.
void print_table(const std::vector<eval::PPResult>& res, const std::vector<eval::DetectorFailure>& failed, bool near,
                 bool far) {
  std::printf("%-10s %-28s", "pp", "hyper-parameters");
  if (near) std::printf(" %10s", "near AUROC");
  if (far) std::printf(" %10s", "far AUROC");
  if (near) std::printf(" %10s", "near FPR95");
  if (far) std::printf(" %10s", "far FPR95");
  std::printf(" %8s\n", "ACC");
  for (auto& r : res) {
    std::printf("%-10s %-28s", r.name.c_str(), eval::hparams_str(r.params).c_str());
    if (near) std::printf(" %10.2f", 100 * r.near_mean.auroc);
    if (far) std::printf(" %10.2f", 100 * r.far_mean.auroc);
    if (near) std::printf(" %10.2f", 100 * r.near_mean.fpr95);
    if (far) std::printf(" %10.2f", 100 * r.far_mean.fpr95);
    std::printf(" %8.2f\n", 100 * r.acc);
  }
  for (auto& f : failed) std::printf("%-10s FAILED: %s\n", f.name.c_str(), f.reason.c_str());
}

}  // namespace

int cmd_eval(int argc, char** argv) {
  if (wants_help(argc, argv)) { usage(); return 0; }
  Args args(argc, argv, {"--save-score", "--save-aux", "--save-csv", "--recompute", "--strict", "--no-aps", "--no-report",
                         "--fsood"});
  const ModelFlags mf = parse_model_flags(args);
  const std::string& weights_path = mf.weights;
  const std::string pp = args.get("--postprocessor", "msp");
  const std::string root = args.get("--data-root", "./data");
  const std::string bench = args.get("--benchmark");
  std::string out = args.get("--out");  // default results/<arch>, once the arch is known
  const long long batch = args.get_int("--batch-size", 200);
  const double percentile = args.get_double("--percentile", -1);
  const bool has_pct = args.has("--percentile");
  const std::string device = args.get("--device", dev::cuda_available() ? "cuda" : "cpu");
  const long long threads = args.get_int("--threads", 0);
  const std::string tf32 = tf32_flag(args);
  eval::ListBenchmark b;
  if (!bench.empty()) {
    ISH_CHECK(bench == "imagenet", "eval: unknown --benchmark '", bench, "' (known: imagenet)");
    b = eval::imagenet_benchmark(root);
  }
  // List files as given (working directory); the image paths inside them under the benchmark's image
  // folder, or --data-root for custom lists.
  const std::string image_root = bench.empty() ? root : b.id_test.root;
  auto list_flag = [&](const char* flag, const std::string& name, eval::ListSpec* s) {
    if (!args.has(flag)) return;
    *s = {name, args.get(flag), image_root};
  };
  list_flag("--id-test", "id", &b.id_test);
  list_flag("--id-val", "id", &b.id_val);
  list_flag("--ood-val", "ood_val", &b.ood_val);
  list_flag("--id-train", "id", &b.id_train);
  if (args.has("--near")) b.near.clear();
  if (args.has("--far")) b.far.clear();
  for (auto& v : args.all("--near")) b.near.push_back(eval::parse_named_list(v, image_root, "--near"));
  for (auto& v : args.all("--far")) b.far.push_back(eval::parse_named_list(v, image_root, "--far"));
  const bool fsood = args.flag("--fsood");
  ISH_CHECK(!fsood || bench == "imagenet", "eval: --fsood adds the ImageNet csid lists and needs --benchmark imagenet ",
            "(other benchmarks: --csid NAME=LIST)");
  if (fsood) b.csid = eval::imagenet_csid(root);
  for (auto& v : args.all("--csid")) b.csid.push_back(eval::parse_named_list(v, image_root, "--csid"));
  eval::RunOptions ro;
  ro.extract.batch_size = (int)batch;
  ro.cfg.batch_size = (int)batch;  // NNGuide's bank size follows the loader batch, as in the reference
  ro.extract.threads = (int)threads;
  ro.extract.strict = args.flag("--strict");
  ro.extract.recompute = args.flag("--recompute");
  ro.extract.cache_dir = args.get("--cache-dir");
  ro.out.save_score = args.flag("--save-score");
  ro.cfg.save_aux = args.flag("--save-aux");
  ISH_CHECK(!ro.cfg.save_aux || ro.out.save_score, "eval: --save-aux needs --save-score");
  args.flag("--save-csv");
  ro.out.report = !args.flag("--no-report");
  // The leaderboard's numbers only beside a run on the benchmark's own test sets.
  ro.out.reference = bench == "imagenet" && !args.has("--id-test") && !args.has("--near") && !args.has("--far");
  ro.cfg.aps = !args.flag("--no-aps");
  for (auto& v : args.all("--set")) eval::parse_set(v, &ro.cfg.fixed);
  args.finish();

  ISH_CHECK(!weights_path.empty(), "eval: --weights is required (see --help)");
  ISH_CHECK(batch >= 1 && batch <= 4096, "eval: --batch-size must be in [1, 4096], got ", batch);
  ISH_CHECK(threads >= 0 && threads <= 256, "eval: --threads must be in [0, 256], got ", threads);
  ish::set_threads((int)threads);  // compute and decode together (engine/threads.h)
  ISH_CHECK(!has_pct || (percentile >= 0 && percentile < 100), "eval: --percentile must be in [0, 100), got ", percentile);
  const Device dev = parse_device(device);
  if (!out.empty()) check_writable_dir(out, "--out");
  ro.cfg.postprocessors = eval::parse_postprocessors(pp);
  if (has_pct) ro.cfg.percentile = percentile;
  ro.cfg.log = [](const std::string& s) { std::fprintf(stderr, "eval: %s\n", s.c_str()); };
  ro.out.log = ro.cfg.log;

  LoadedModel lm = load_model(mf, dev, /*hash_weights=*/true);
  models::Net& model = *lm.model;
  if (out.empty()) {
    out = "results/" + lm.meta.arch;
    check_writable_dir(out, "--out");
  }
  ro.out.out_dir = out;
  if (ro.extract.cache_dir.empty()) ro.extract.cache_dir = out + "/cache";
  ro.extract.transform = lm.transform;
  ro.extract.decode = mf.decode;
  ro.extract.weights_key = lm.weights_hash;
  ro.out.info = {{"arch", lm.meta.arch}, {"image_size", std::to_string(lm.transform.crop)},
                 {"resize", std::to_string(lm.transform.resize)},
                 {"interpolation", img::interpolation_name(lm.transform.interpolation)},
                 {"weights", weights_path}, {"weights_hash", ro.extract.weights_key},
                 {"device", device}, {"tf32", tf32}, {"benchmark", bench.empty() ? "custom lists" : bench},
                 {"data_root", root}, {"preprocessing", lm.transform.describe_eval()},
                 {"max_image_mb", std::to_string(std::max<int64_t>(mf.decode.max_file_bytes, 0) >> 20)}};
  if (model.width() > 0) ro.out.info["width"] = std::to_string(model.width());  // ResNets
  for (auto& c : b.csid)
    if (c.name == "imagenet_c") ro.out.info["preprocessing imagenet_c"] = eval::csid_transform(c.name, ro.extract.transform).describe_eval();
  auto res = eval::run_benchmark(model, b, ro);
  print_table(res, ro.out.failed, !b.near.empty(), !b.far.empty());
  std::fputs(eval::fsood_summary_text(res).c_str(), stdout);
  if (ro.out.reference) std::fputs(eval::reference_text(res).c_str(), stdout);
  std::printf("outputs in %s (ood/*.csv, results.json, report.html%s)\n", out.c_str(), ro.out.save_score ? ", scores/" : "");
  if (!ro.out.failed.empty()) {
    ISH_CHECK(!res.empty(), "eval: no postprocessor could run (", ro.out.failed.size(), " failed, listed above)");
    std::fprintf(stderr, "eval: %zu of %zu postprocessors failed (listed above and in results.json); exit 3\n",
                 ro.out.failed.size(), ro.out.failed.size() + res.size());
    return 3;
  }
  return 0;
}

}  // namespace ish::cli
