# make SAN=1 test: the CPU suite built with AddressSanitizer + UBSan in its own folder (build-san),
# run with leak detection on. Included by the Makefile before anything reads BUILD, CUDA or CXXFLAGS.
# Every report (of the test binary and of each ishscale it spawns) is written under
# $(BUILD)/san-logs; the run fails when any is there. Third-party reports are suppressed in
# fuzz/san.supp, one line each with its reason.
BUILD := build-san
override CUDA := 0
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
# -g1: line tables are all a report needs. The tests and the CLI glue compile at -O0 (faster to build;
# the time is spent in the library, which stays at -O1).
CXXFLAGS := -O1 -g1 $(SAN_FLAGS)
$(BUILD)/obj/tests/%.o $(BUILD)/obj/cli/%.o: CXXFLAGS += -O0
# stb_image's memcpy of zero bytes to a null buffer (fuzz/fuzz.mk says when) is exempt, as in the fuzzers.
$(BUILD)/obj/engine/image/decode_stb.o: CXXFLAGS += -fno-sanitize=nonnull-attribute
SAN_LDFLAGS := $(SAN_FLAGS)
SAN_LOGS := $(abspath $(BUILD))/san-logs
SAN_SUPP := $(abspath fuzz/san.supp)
SAN_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1:log_path=$(SAN_LOGS)/asan \
  LSAN_OPTIONS=suppressions=$(SAN_SUPP):print_suppressions=0 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:suppressions=$(SAN_SUPP):log_path=$(SAN_LOGS)/ubsan
# Appended to the suite's command line: prints every report, fails when there is one, else keeps the
# suite's exit status (with UBSan halting, its report goes to stderr, not to a log file: a non-zero exit
# is then the sign).
SAN_POST := ; rc=$$?; n=$$(ls $(SAN_LOGS) | wc -l); if [ "$$n" != 0 ]; then head -n 60 $(SAN_LOGS)/*; \
  echo "SAN: $$n sanitizer report(s) in $(SAN_LOGS)"; exit 1; fi; \
  if [ $$rc != 0 ]; then echo "SAN: no report file, but the suite exited $$rc: a UBSan report (the combined runtime prints it to stderr) or a test failure is above"; \
  else echo "SAN: 0 sanitizer reports"; fi; exit $$rc
SAN_PRE := rm -rf $(SAN_LOGS) && mkdir -p $(SAN_LOGS) &&
