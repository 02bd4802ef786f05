# Convenience front end over CMake; `make demo` and `make test` do all set-up on Debian.
BUILD    ?= build
ASAN     ?= build-asan
FUZZ     ?= build-fuzz
JOBS     ?= $(shell nproc)
FUZZ_SECONDS ?= 30
DEMO_DIR ?= $(BUILD)/demo

.PHONY: all deps build test test-release test-asan fuzz demo bench clean

all: build

deps:
	@scripts/deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release
	cmake --build $(BUILD) -j $(JOBS)

# The tests twice: optimised, then under AddressSanitizer + UndefinedBehaviorSanitizer.
test: test-release test-asan

test-release: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-asan: deps
	cmake -S . -B $(ASAN) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTTT_SANITIZE=ON
	cmake --build $(ASAN) -j $(JOBS)
	cd $(ASAN) && ctest --output-on-failure -j $(JOBS)

# libFuzzer targets (clang), each for FUZZ_SECONDS.
fuzz:
	@scripts/deps.sh --fuzz
	CC=clang cmake -S . -B $(FUZZ) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTTT_FUZZ=ON -DBUILD_TESTING=ON
	cmake --build $(FUZZ) -j $(JOBS) --target fuzz_safetensors fuzz_config fuzz_qa fuzz_jsonl fuzz_shard \
		fuzz_tokenizer fuzz_tokenizer_json ttt-cli
	scripts/fuzz.sh $(FUZZ) $(FUZZ_SECONDS)

# The main job, with nothing downloaded: two small sliding-window models, one with TTT layers
# and one without, trained from scratch on built-in recall data, checkpointed, evaluated in
# the three modes (table here; plots, summaries and checkpoints in DEMO_DIR). DEMO_ARGS adds
# flags (e.g. DEMO_ARGS="--steps 3000 --preset base").
DEMO_ARGS ?=
demo: build
	$(BUILD)/ttt demo -o $(DEMO_DIR) $(DEMO_ARGS)

# The speed benchmark on a random Qwen3-0.6B with TTT layers (chunk 512), TTT on and off,
# against this machine's ceilings.
bench: build
	@test -f $(DEMO_DIR)/qwen3-0.6b/model.safetensors || \
	  $(BUILD)/ttt init --preset qwen3-0.6b --ttt-chunk 512 -o $(DEMO_DIR)/qwen3-0.6b
	$(BUILD)/ttt bench -m $(DEMO_DIR)/qwen3-0.6b -p 512 -n 64 -r 2

clean:
	rm -rf $(BUILD) $(ASAN) $(FUZZ)
