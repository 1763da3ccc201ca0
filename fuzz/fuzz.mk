# libFuzzer targets for the untrusted-input parsers (included by the Makefile).
#   make fuzz                      builds every fuzz_<target>, then runs each FUZZ_SECONDS, one after the other
#   make fuzz FUZZ_RUN="jpeg stb"  runs only those targets
#   make fuzz FUZZ_SECONDS=600     the corpus grows in $(BUILD)/fuzz/corpus_<target>; a crash is written
#                                  to $(BUILD)/fuzz/crash_<target>-<sha1>: reproduce it with
#                                  $(BUILD)/fuzz/fuzz_<target> FILE
# Needs clang with libFuzzer: Debian's clang-14 plus libclang-rt-14-dev.
FUZZ_SECONDS ?= 60
FUZZ_CXX ?= clang++
FUZZ_DIR := $(BUILD)/fuzz
FUZZ_TARGETS := safetensors pickle jpeg stb imglist ckptmeta
FUZZ_RUN ?= $(FUZZ_TARGETS)
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_CXXFLAGS := -std=c++17 -O1 -g -fno-omit-frame-pointer -I. $(FUZZ_SAN)
FUZZ_LIB_SRCS := weights/safetensors.cpp weights/zip.cpp weights/pickle.cpp weights/pth.cpp weights/load.cpp \
  engine/device_options.cpp \
  engine/tensor.cpp engine/dtype.cpp engine/device.cpp engine/backend.cpp util/fs.cpp fuzz/engine_stub.cpp \
  engine/image/decode.cpp engine/image/decode_jpeg.cpp engine/image/decode_stb.cpp engine/image/imglist.cpp \
  train/checkpoint.cpp train/config.cpp engine/rng.cpp fuzz/train_stub.cpp
FUZZ_OBJS := $(FUZZ_LIB_SRCS:%.cpp=$(FUZZ_DIR)/obj/%.o)
# stb_image copies zero bytes to a null buffer on a PNG whose first IDAT chunk is empty (valid PNG):
# undefined by the letter of memcpy's nonnull contract, a no-op in practice. Exempt that one check there.
STB_SAN_EXEMPT := -fno-sanitize=nonnull-attribute
$(FUZZ_DIR)/obj/engine/image/decode_stb.o: FUZZ_CXXFLAGS += $(STB_SAN_EXEMPT)
FUZZ_BINS := $(FUZZ_TARGETS:%=$(FUZZ_DIR)/fuzz_%)

.PHONY: fuzz fuzz-build fuzz-check
fuzz-check:
	@mkdir -p $(FUZZ_DIR)
	@echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }' > $(FUZZ_DIR)/probe.cpp
	@$(FUZZ_CXX) -fsanitize=fuzzer $(FUZZ_DIR)/probe.cpp -o $(FUZZ_DIR)/probe 2>/dev/null || { \
	  echo "fuzz: $(FUZZ_CXX) cannot link -fsanitize=fuzzer; install libFuzzer: apt-get install -y clang-14 libclang-rt-14-dev"; \
	  exit 1; }

$(FUZZ_DIR)/obj/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) $(FUZZ_CXXFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@
$(FUZZ_DIR)/fuzz_%: fuzz/fuzz_%.cpp fuzz/fuzz_image.h $(FUZZ_OBJS) | fuzz-check
	$(FUZZ_CXX) $(FUZZ_CXXFLAGS) -fsanitize=fuzzer $< $(FUZZ_OBJS) -ljpeg -lz -o $@
$(FUZZ_DIR)/seeds/.stamp: fuzz/make_seeds.py tools/fixtures_weights.py tools/st_io.py tools/image_corpus.py
	$(PY) fuzz/make_seeds.py $(FUZZ_DIR)/seeds
	@touch $@

.SECONDARY: $(FUZZ_OBJS)
fuzz-build: $(FUZZ_BINS) $(FUZZ_DIR)/seeds/.stamp

# Each target runs FUZZ_SECONDS from its growing corpus plus the seeds; any crash fails the rule.
fuzz: fuzz-build
	@set -e; for t in $(FUZZ_RUN); do \
	  mkdir -p $(FUZZ_DIR)/corpus_$$t; \
	  echo "fuzz: $$t for $(FUZZ_SECONDS)s"; \
	  : "longest input: room for an image header and some scans; lists and headers are short"; \
	  maxlen=$$(case $$t in jpeg|stb) echo 65536;; imglist) echo 4096;; ckptmeta) echo 8192;; *) echo 16384;; esac); \
	  $(FUZZ_DIR)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -max_len=$$maxlen -rss_limit_mb=2048 -timeout=10 \
	    -print_final_stats=1 -artifact_prefix=$(FUZZ_DIR)/crash_$$t- \
	    $(FUZZ_DIR)/corpus_$$t $(FUZZ_DIR)/seeds/$$t > $(FUZZ_DIR)/$$t.log 2>&1 \
	    || { tail -n 40 $(FUZZ_DIR)/$$t.log; echo "fuzz: $$t FAILED (log $(FUZZ_DIR)/$$t.log)"; exit 1; }; \
	  grep -E '^(Done|stat::number_of_executed_units)' $(FUZZ_DIR)/$$t.log || true; \
	done; echo "fuzz: no crash in $(FUZZ_SECONDS)s per target"
