/* ttt.c - the command-line tool: `ttt <command> [options]`. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "ttt.h"

#define TTT_VERSION "0.1.0"

static void usage(FILE *f) {
    fprintf(f,
            "ttt %s - In-Place Test-Time Training engine for Qwen3, Llama-3 and Gemma3\n"
            "\n"
            "usage: ttt <command> [options]\n"
            "\n"
            "commands:\n"
            "  verify DIR      check the engine against a golden directory (config.json,\n"
            "                  model.safetensors, expected.safetensors, expected.json)\n"
            "  init            write a random-weight checkpoint of a preset's shapes\n"
            "  bench -m DIR    prefill and decode speed, with the machine's ceilings\n"
            "  run -m DIR      generate text from a prompt (fast weights learn as it reads)\n"
            "  chat -m DIR     interactive multi-turn chat; KV cache and fast weights carry over\n"
            "  eval -m DIR     RULER / MQAR at several lengths in the three TTT modes, with plots\n"
            "  train -m DIR    train on token shards (AdamW, freeze policies, checkpoints, resume)\n"
            "  tokenize        text to ids and back with a tokenizer.json; chat prompts\n"
            "  ruler-gen       print or time generated RULER prompts (long-context eval)\n"
            "  mqar-gen -o F   write MQAR (multi-query associative recall) sequences\n"
            "  add-ttt IN -o OUT --layers L\n"
            "                  add TTT layers to a plain checkpoint (official init)\n"
            "  data FILE... -o DIR\n"
            "                  tokenize .txt / .jsonl files into training shards\n"
            "  bench-train -m DIR  training speed (tokens/s, FLOPs utilisation)\n"
            "  eval-report DIR summaries, tables and plots of DIR/samples.jsonl\n"
            "  demo            train a TTT and a plain model from scratch on built-in recall\n"
            "                  tasks, evaluate both in the three modes (minutes on a CPU)\n"
            "\n"
            "`ttt <command> --help` describes a command's options.\n",
            TTT_VERSION);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "verify")) return cmd_verify(argc - 1, argv + 1);
    if (!strcmp(cmd, "init")) return cmd_init(argc - 1, argv + 1);
    if (!strcmp(cmd, "bench")) return cmd_bench(argc - 1, argv + 1);
    if (!strcmp(cmd, "run")) return cmd_run(argc - 1, argv + 1);
    if (!strcmp(cmd, "chat")) return cmd_chat(argc - 1, argv + 1);
    if (!strcmp(cmd, "eval")) return cmd_eval(argc - 1, argv + 1);
    if (!strcmp(cmd, "train")) return cmd_train(argc - 1, argv + 1);
    if (!strcmp(cmd, "tokenize")) return cmd_tokenize(argc - 1, argv + 1);
    if (!strcmp(cmd, "ruler-gen")) return cmd_ruler_gen(argc - 1, argv + 1);
    if (!strcmp(cmd, "mqar-gen")) return cmd_mqar_gen(argc - 1, argv + 1);
    if (!strcmp(cmd, "add-ttt")) return cmd_add_ttt(argc - 1, argv + 1);
    if (!strcmp(cmd, "data")) return cmd_data(argc - 1, argv + 1);
    if (!strcmp(cmd, "bench-train")) return cmd_bench_train(argc - 1, argv + 1);
    if (!strcmp(cmd, "eval-report")) return cmd_eval_report(argc - 1, argv + 1);
    if (!strcmp(cmd, "demo")) return cmd_demo(argc - 1, argv + 1);
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version")) {
        printf("ttt %s\n", TTT_VERSION);
        return 0;
    }
    fprintf(stderr, "ttt: unknown command '%s' (see ttt --help)\n", cmd);
    return 2;
}
