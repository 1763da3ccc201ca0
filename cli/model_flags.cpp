#include "cli/model_flags.h"

#include <cstdio>

#include "engine/error.h"
#include "models/model_file.h"
#include "models/zoo.h"

namespace ish::cli {

ModelFlags parse_model_flags(Args& a) {
  a.alias("--ckpt-path", "--weights");
  ModelFlags f;
  f.weights = a.get("--weights");
  f.given.arch = a.get("--arch");
  if (!f.given.arch.empty()) f.given.arch = models::zoo::require(f.given.arch);  // vit-b-16 -> vit_b_16
  if (a.has("--width")) {
    const long long w = a.get_int("--width", 0);
    ISH_CHECK(w >= 1 && w <= 4096, "--width must be in [1, 4096], got ", w);
    f.given.width = (int)w;
  }
  if (a.has("--image-size")) {
    const long long s = a.get_int("--image-size", 0);
    ISH_CHECK(s >= 1 && s <= 8192, "--image-size must be in [1, 8192], got ", s);
    f.given.image_size = (int)s;
  }
  if (a.has("--resize")) {
    const long long r = a.get_int("--resize", 0);
    ISH_CHECK(r >= 0 && r <= 16384, "--resize must be in [0, 16384] (0: no resize), got ", r);
    f.given.resize = (int)r;
  }
  if (a.has("--interpolation")) {
    f.interpolation = a.get("--interpolation");
    ISH_CHECK(f.interpolation == "bilinear" || f.interpolation == "bicubic",
              "--interpolation must be bilinear or bicubic, got '", f.interpolation, "'");
  }
  f.decode = parse_decode_flags(a);
  return f;
}

img::DecodeOptions parse_decode_flags(Args& a) {
  img::DecodeOptions d;
  if (a.has("--max-image-mb")) {
    const long long mb = a.get_int("--max-image-mb", 0);
    ISH_CHECK(mb >= 0 && mb <= (1 << 20), "--max-image-mb must be in [0, 1048576] (0: no cap), got ", mb);
    d.max_file_bytes = (int64_t)mb << 20;
  }
  return d;
}

std::string model_flags_help(int indent) {
  const std::string p(indent, ' ');
  return p + "--weights W, --ckpt-path W  safetensors or PyTorch .pth (zip or legacy), torchvision names; a training\n" +
         p + "                            checkpoint (optim.* entries) loads too, its optimizer state ignored\n" +
         p + "--arch A                    resnet18|34|50|101|152 or <arch>_cifar, vit_b_16|vit_b_32|vit_l_16|\n" +
         p + "                            vit_l_32|vit_h_14, swin_t|swin_s|swin_b (also vit-b-16, swin-t, ...);\n" +
         p + "                            needed only for files without metadata, and then inferred from the\n" +
         p + "                            tensors (torchvision's names) where unambiguous\n" +
         p + "--width W                   ResNet stem width, for files without metadata whose tensors do not tell it\n" +
         p + "--image-size S              centre crop (default: the file's metadata, else 224; a ViT: the size\n" +
         p + "                            its position embedding fits, no other)\n" +
         p + "--resize R                  resize of the short side before the crop (default: the metadata, else\n" +
         p + "                            the arch's ratio: int(S*256/224), swin_t int(S*232/224); 0: none)\n" +
         p + "--interpolation F           bilinear|bicubic, the resize filter (PIL-exact; default: the arch's\n" +
         p + "                            torchvision eval transform: bicubic for swin_t, else bilinear)\n" +
         decode_flags_help(indent);
}

std::string decode_flags_help(int indent) {
  return std::string(indent, ' ') + str("--max-image-mb N            image files over N MiB are refused before reading (default ",
                                        img::kDefaultMaxFileBytes >> 20, "; 0: no cap)\n");
}

LoadedModel load_model(const ModelFlags& f, Device dev, bool hash_weights) {
  ISH_CHECK(!f.weights.empty(), "--weights is required (see --help)");
  models::WeightsFile w = models::read_weights(f.weights, f.given, hash_weights);
  if (w.optim_entries) std::fprintf(stderr, "%s\n", models::optim_note(w).c_str());
  models::ModelMeta m = w.meta;
  const models::ModelMeta& fm = w.file_meta;
  // Input size: the flags must agree with what the file says.
  const models::ModelMeta& g = f.given;
  ISH_CHECK(g.image_size <= 0 || fm.image_size <= 0 || g.image_size == fm.image_size, f.weights, ": --image-size ",
            g.image_size, " contradicts the file's metadata image_size=", fm.image_size, " (drop --image-size)");
  ISH_CHECK(g.resize < 0 || fm.resize < 0 || g.resize == fm.resize, f.weights, ": --resize ", g.resize,
            " contradicts the file's metadata resize=", fm.resize, " (drop --resize)");
  const int channels = m.in_channels > 0 ? m.in_channels : 3;
  ISH_CHECK(channels == 3, f.weights, ": the model takes ", channels, "-channel input; this command feeds RGB images");
  const bool resnet = models::zoo::family(m.arch) == models::zoo::Family::ResNet;
  ISH_CHECK(m.image_size > 0 || g.image_size > 0 || !resnet || !models::config_for(m.arch).cifar_stem, f.weights, ": ",
            m.arch, " expects small inputs and the file does not say which: pass --image-size");
  std::unique_ptr<models::Net> net = models::zoo::open(w, dev);
  // The arch's torchvision eval transform, at the crop the flags or the file give (keeping its resize ratio).
  const img::Transform def = img::Transform::eval_default(m.arch);
  if (g.image_size > 0) m.image_size = g.image_size;
  if (m.image_size <= 0) m.image_size = net->input_size() > 0 ? net->input_size() : def.crop;
  const int need = net->input_size();
  ISH_CHECK(need <= 0 || m.image_size == need, f.weights, ": ", m.arch, "'s position embedding fits ", need, "x", need,
            " inputs, not --image-size ", m.image_size, " (drop --image-size)");
  img::Transform t = def;
  if (m.image_size != def.crop) {
    t.crop = m.image_size;
    t.resize = (int)((int64_t)m.image_size * def.resize / def.crop);  // 224 -> 256: int(S*256/224)
  }
  if (g.resize >= 0) m.resize = g.resize;
  if (m.resize >= 0) t.resize = m.resize;
  m.resize = t.resize;
  if (!f.interpolation.empty())
    t.interpolation = f.interpolation == "bicubic" ? img::Interpolation::Bicubic : img::Interpolation::Bilinear;
  t.validate();
  if (m.width <= 0) m.width = net->width();
  if (m.num_classes <= 0) m.num_classes = net->num_classes();
  return LoadedModel{std::move(net), m, t, w.content_hash};
}

}  // namespace ish::cli
