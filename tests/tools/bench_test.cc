// hobbit-tool bench: its parts in process (budget parsing, the quality figures, the JSON writer,
// the eviction replay of --tune) and the real binary end to end on the tiny preset and the demo
// model, on the CPU backend, with token counts small enough for a few seconds.
//
// End to end, the JSON is read back by python3's json module (the standard library only) and
// checked: ondemand-lru and hobbit with T1 = T2 = 1 are exact (top-1 agreement 1, KL exactly 0),
// static-low and hobbit with lower thresholds are not (KL > 0),
// the counters add up in every phase, and resident's NLL equals the one computed from
// `hobbit-tool logits` on the same token ids.
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "tests/support/run_command.h"
#include "runtime/gguf/gguf_file.h"
#include "tools/hobbit_tool/bench_json_writer.h"
#include "tools/hobbit_tool/bench_model_source.h"
#include "tools/hobbit_tool/bench_options.h"
#include "tools/hobbit_tool/bench_quality.h"
#include "tools/hobbit_tool/bench_tuner.h"
#include "tools/hobbit_tool/flag_parser.h"

namespace hobbit::tools {
namespace {

const std::string kSource = HOBBIT_SOURCE_DIR;
const std::string kTool = std::string(HOBBIT_BINARY_DIR) + "/bin/hobbit-tool";
const std::string kDemo = kSource + "/config/models/hobbit-demo-q8_0.gguf";

using Result = test_support::CommandResult;
using test_support::RunCommand;

std::string TempPath(const std::string& name) { return std::string(::testing::TempDir()) + "/bench_test_" + name; }

bool HavePython() { return RunCommand("python3 -c 'import json'").exit_code == 0; }

// Runs a python3 check script on the JSON file; the script prints its failures.
Result CheckJson(const std::string& json_path, const std::string& script, const std::string& extra = "") {
  const std::string path = TempPath("check.py");
  std::ofstream(path) << script;
  return RunCommand("python3 " + path + " " + json_path + " " + extra);
}

// The options bench reads from --preset tiny and `extra`.
absl::StatusOr<BenchOptions> TinyOptionsWith(const std::vector<std::string>& extra) {
  FlagParser flags("bench");
  AddBenchFlags(flags);
  std::vector<std::string> args = {"--preset", "tiny"};
  args.insert(args.end(), extra.begin(), extra.end());
  if (absl::Status st = flags.Parse(args); !st.ok()) return st;
  return ReadBenchOptions(flags);
}

// --prefill-precision: each name, and f16 when the flag is absent (engine.prefill_precision's default).
TEST(BenchOptionsTest, PrefillPrecisionFlag) {
  const std::pair<std::vector<std::string>, runtime::PrefillPrecision> cases[] = {
      {{}, runtime::PrefillPrecision::kF16},
      {{"--prefill-precision", "f16"}, runtime::PrefillPrecision::kF16},
      {{"--prefill-precision", "tf32"}, runtime::PrefillPrecision::kTf32},
      {{"--prefill-precision=f32"}, runtime::PrefillPrecision::kF32}};
  for (const auto& [extra, want] : cases) {
    absl::StatusOr<BenchOptions> o = TinyOptionsWith(extra);
    ASSERT_TRUE(o.ok()) << o.status();
    EXPECT_EQ(o->prefill_precision, want) << (extra.empty() ? "(default)" : extra.back());
  }
  absl::StatusOr<BenchOptions> o = TinyOptionsWith({"--prefill-precision", "on"});
  ASSERT_FALSE(o.ok());
  EXPECT_NE(o.status().message().find("--prefill-precision: expected f16, tf32 or f32, got 'on'"), std::string::npos)
      << o.status();
}

// --kv-type: auto when absent (kv.type's default), f16 or f32 on request, other values refused by name.
TEST(BenchOptionsTest, KvTypeFlag) {
  for (const auto& [extra, want] :
       {std::pair{std::vector<std::string>{}, kernels::KvCacheSetting::kAuto},
        std::pair{std::vector<std::string>{"--kv-type", "f32"}, kernels::KvCacheSetting::kF32},
        std::pair{std::vector<std::string>{"--kv-type=f16"}, kernels::KvCacheSetting::kF16}}) {
    absl::StatusOr<BenchOptions> o = TinyOptionsWith(extra);
    ASSERT_TRUE(o.ok()) << o.status();
    EXPECT_EQ(o->kv_type, want) << (extra.empty() ? "(default)" : extra.back());
  }
  absl::StatusOr<BenchOptions> o = TinyOptionsWith({"--kv-type", "q8_0"});
  ASSERT_FALSE(o.ok());
  EXPECT_NE(o.status().message().find("--kv-type: expected auto, f16 or f32, got 'q8_0'"), std::string::npos)
      << o.status();
}

TEST(BenchBudgetTest, FractionsAndBytes) {
  absl::StatusOr<BenchBudget> b = ParseBudget("0.25");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_DOUBLE_EQ(b->fraction, 0.25);
  EXPECT_EQ(b->Resolve(1000), 250);
  EXPECT_EQ(ParseBudget("1")->fraction, 1.0);
  EXPECT_EQ(ParseBudget("1.5GB")->bytes, 1500000000);
  EXPECT_EQ(ParseBudget("2GiB")->bytes, int64_t{2} << 30);
  EXPECT_EQ(ParseBudget("512mib")->bytes, int64_t{512} << 20);
  EXPECT_EQ(ParseBudget("123456789")->bytes, 123456789);
  EXPECT_EQ(ParseBudget("123456789")->Resolve(5), 123456789);
  for (const char* bad : {"0", "-1", "abc", "2.5", "1.5XB", "GB", ""}) {
    EXPECT_FALSE(ParseBudget(bad).ok()) << bad;
  }
  EXPECT_NE(std::string(ParseBudget("2.5").status().message()).find("'2.5'"), std::string::npos);
}

// Older Mixtral files keep one tensor per expert (blk.N.ffn_gate.E.weight); the fixture's two files
// hold the same model, so the expert and decode byte counts agree.
TEST(BenchModelSourceTest, StackedAndPerExpertFilesCountTheSameBytes) {
  const std::string dir = std::string(HOBBIT_SOURCE_DIR) + "/tests/fixtures/hf_tiny/mixtral/";
  absl::StatusOr<std::unique_ptr<runtime::GgufFile>> stacked = runtime::GgufFile::Open(dir + "model-f32.gguf");
  absl::StatusOr<std::unique_ptr<runtime::GgufFile>> legacy = runtime::GgufFile::Open(dir + "model-f32-legacy.gguf");
  ASSERT_TRUE(stacked.ok()) << stacked.status();
  ASSERT_TRUE(legacy.ok()) << legacy.status();
  ASSERT_EQ((*legacy)->FindTensor("blk.0.ffn_gate_exps.weight"), nullptr) << "the legacy fixture is stacked";
  EXPECT_GT(AllRoutedExpertBytes(**stacked), 0);
  EXPECT_EQ(AllRoutedExpertBytes(**legacy), AllRoutedExpertBytes(**stacked));
  EXPECT_EQ(DecodeWeightBytes(**legacy, 8, 2), DecodeWeightBytes(**stacked, 8, 2));
  EXPECT_LT(DecodeWeightBytes(**stacked, 8, 2), DecodeWeightBytes(**stacked, 8, 8));
}

TEST(BenchQualityTest, IdenticalRowsAgreeWithZeroDivergence) {
  const std::vector<float> row = {0.5f, -1.25f, 3.0f, 2.0f};
  QualityMeter q;
  q.Add(row, row, 2);
  q.Add(row, row, 0);
  const QualityFigures f = q.Result();
  EXPECT_EQ(f.positions, 2);
  EXPECT_EQ(f.top1_agreement, 1.0);
  EXPECT_EQ(f.mean_kl, 0.0);
  const std::vector<double> lp = LogSoftmax(row);
  EXPECT_NEAR(f.mean_nll, -(lp[2] + lp[0]) / 2, 1e-12);
  EXPECT_NEAR(f.perplexity, std::exp(f.mean_nll), 1e-12);
}

TEST(BenchQualityTest, TwoPointDistributionsMatchTheClosedForm) {
  // Logits (0, ln 3) are probabilities (1/4, 3/4); (0, 0) is (1/2, 1/2); their argmaxes differ.
  const std::vector<float> ref = {0.0f, static_cast<float>(std::log(3.0))};
  const std::vector<float> got = {0.0f, 0.0f};
  QualityMeter q;
  q.Add(ref, got, 1);
  const QualityFigures f = q.Result();
  const double p = 1.0 / (1.0 + std::exp(static_cast<double>(ref[1])));  // P(token 0) under ref
  const double want_kl = p * std::log(p / 0.5) + (1 - p) * std::log((1 - p) / 0.5);
  EXPECT_NEAR(f.mean_kl, want_kl, 1e-12);
  EXPECT_GT(f.mean_kl, 0.0);
  EXPECT_EQ(f.top1_agreement, 0.0);  // argmax 1 vs the tie's lowest index, 0
  EXPECT_NEAR(f.mean_nll, std::log(2.0), 1e-12);
}

TEST(BenchJsonWriterTest, NestsAndEscapes) {
  JsonWriter w;
  w.BeginObject();
  w.Key("a");
  w.Int(-3);
  w.Key("b\"");
  w.BeginArray();
  w.Number(0.5);
  w.String("x\ny");
  w.Bool(true);
  w.Number(std::nan(""));
  w.EndArray();
  w.Key("c");
  w.BeginObject();
  w.EndObject();
  w.EndObject();
  EXPECT_EQ(w.str(), R"({"a":-3,"b\"":[0.5,"x\ny",true,null],"c":{}})");
}

// One layer, four experts, top-1, a pool of two high slots, never low or skipped. The trace
// A A A B C B C A, worked out by hand:
//   LRU: A, B, C miss; C evicts A (last used at token 3, B at 4); B, C hit; A misses and evicts
//        B (last used at 6, C at 7): 4 misses.
//   LFU: A, B, C miss; C evicts B (1 use, A 3); B misses and evicts C (1 use); C misses and
//        evicts B (2 uses, A 3); A hits: 5 misses.
TEST(BenchTunerTest, ReplayCountsLruAndLfuMissesAsWorkedOutByHand) {
  const int32_t kA = 0, kB = 1, kC = 2;
  std::vector<RoutingTraceEntry> trace;
  for (int32_t e : {kA, kA, kA, kB, kC, kB, kC, kA}) trace.push_back({0, 1, 1, {e}, {1.0f}});
  ReplayModel model;
  model.n_layer = 1;
  model.n_expert = 4;
  model.high_bytes = {100, 100, 100, 100};
  model.low_bytes = {30, 30, 30, 30};
  const runtime::PrecisionThresholds quality{1.0f, 1.0f};
  absl::StatusOr<TuneCandidate> lru = ReplayTrace(trace, model, 2, 0, {1, 0, 0, 0}, quality);
  absl::StatusOr<TuneCandidate> lfu = ReplayTrace(trace, model, 2, 0, {0, 1, 0, 0}, quality);
  ASSERT_TRUE(lru.ok()) << lru.status();
  ASSERT_TRUE(lfu.ok()) << lfu.status();
  EXPECT_EQ(lru->misses_high, 4u);
  EXPECT_EQ(lru->hits, 4u);
  EXPECT_EQ(lru->penalty_bytes, 400);
  EXPECT_EQ(lfu->misses_high, 5u);
  EXPECT_EQ(lfu->hits, 3u);
  EXPECT_EQ(lfu->penalty_bytes, 500);
}

// Top-2 with weights 0.95 / 0.05: the second expert's score 0.95 > T2 = 0.9 skips it; with
// weights 0.7 / 0.3 its score 0.7 is in (T1, T2]: it loads low and costs the low bytes.
TEST(BenchTunerTest, ReplayAppliesThePrecisionRule) {
  std::vector<RoutingTraceEntry> trace = {{0, 1, 2, {0, 1}, {0.95f, 0.05f}}, {0, 1, 2, {2, 3}, {0.7f, 0.3f}}};
  ReplayModel model;
  model.n_layer = 1;
  model.n_expert = 4;
  model.high_bytes = {100, 100, 100, 100};
  model.low_bytes = {30, 30, 30, 30};
  absl::StatusOr<TuneCandidate> c = ReplayTrace(trace, model, 2, 2, {0.25, 0.25, 0.25, 0.25}, {0.6f, 0.9f});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->misses_high, 2u);
  EXPECT_EQ(c->misses_skip, 1u);
  EXPECT_EQ(c->misses_low, 1u);
  EXPECT_EQ(c->penalty_bytes, 230);
}

constexpr char kCheckTiny[] = R"PY(
import json, sys
d = json.load(open(sys.argv[1]))
bad = []
def check(ok, what):
    if not ok: bad.append(what)
res = d["results"]
check([r["mode"] for r in res] == ["resident", "ondemand-lru", "static-low", "hobbit", "hobbit"], "mode order")
check([(r["t1"], r["t2"]) for r in res[3:]] == [(0.5, 0.75), (1, 1)], "hobbit's thresholds")
for r in res:
    name = r["mode"] + "@" + r["budget"]
    q = r["quality"]
    if r["mode"] in ("resident", "ondemand-lru") or (r["mode"] == "hobbit" and r["t1"] == 1 and r["t2"] == 1):
        check(q["top1_agreement"] == 1 and q["mean_kl"] == 0 and q["max_kl"] == 0, name + " is not exact: %s" % q)
    if r["mode"] == "static-low" or (r["mode"] == "hobbit" and r["t1"] < 1):
        check(q["mean_kl"] > 0, name + " KL is 0")
    check([p["name"] for p in r["phases"]] == ["decode_b1", "decode_b3", "prefill_16", "prefill_24"], name + " phases")
    for p in r["phases"]:
        e = p["experts"]
        total = e["hits_high"] + e["hits_low"] + e["misses_high"] + e["misses_low"] + e["misses_skip"]
        check(total == e["lookups"], "%s %s: hits + misses %d != lookups %d" % (name, p["name"], total, e["lookups"]))
        check(e["prefetch_used"] + e["prefetch_wasted"] == e["prefetch_issued"], name + " prefetch outcomes")
        check(p["tokens"] == p["batch"] * p["steps"] or p["name"].startswith("prefill"), name + " tokens")
        check(p["seconds"] > 0 and p["transfer_floor_seconds"] > 0, name + " times")
        if p["name"].startswith("prefill"):  # --prefill-runs 3: the phase's seconds are the median
            runs = p.get("run_seconds", [])
            check(len(runs) == 3 and p["seconds"] == sorted(runs)[1], "%s %s runs %s" % (name, p["name"], runs))
        else:
            check("run_seconds" not in p, name + " " + p["name"] + " has run_seconds")
        if r["mode"] == "resident":
            check(e["lookups"] == 0, "resident counted lookups")
        else:
            check(e["tokens"] == p["tokens"], "%s %s: loader saw %d tokens, phase ran %d" % (name, p["name"], e["tokens"], p["tokens"]))
            check(e["lookups"] == e["tokens"] * d["config"]["n_expert_used"] * d["config"]["n_layer"], name + " lookups")
    if r["mode"] == "static-low":
        check(r["high_slots"] == 0 and r["phases"][0]["experts"]["hits_high"] == 0, "static-low used high copies")
    if r["mode"] == "ondemand-lru":
        check(r["low_slots"] == 0 and r["phases"][0]["experts"]["misses_low"] == 0, "ondemand-lru used low copies")
check(d["config"]["budget_bytes"] == [d["config"]["all_expert_bytes"]], "budget 1 is all the experts")
# The weights a decode token reads, worked out from the tiny preset's shape (F16 matrices, F32 norms
# and router; 4 heads and 2 KV heads of 32): attention, norms, router, 2 of 8 experts a layer, one
# embedding row, the output norm and head.
c = d["config"]
e, ff, V, L, E, k = c["n_embd"], c["n_ff_exp"], c["n_vocab"], c["n_layer"], c["n_expert"], c["n_expert_used"]
q, kv = 128, 64
layer = 2 * (e * q + 2 * e * kv + q * e) + 2 * 4 * e + 4 * e * E + k * 3 * 2 * e * ff
check(c["all_expert_bytes"] == L * E * 3 * 2 * e * ff, "all_expert_bytes %d" % c["all_expert_bytes"])
check(c["decode_weight_bytes"] == L * layer + 2 * e + 4 * e + 2 * V * e, "decode_weight_bytes %d" % c["decode_weight_bytes"])
check(c["roofline_bytes_per_second"] == 1e10, "roofline bandwidth")
for r in res:
    if r["mode"] != "resident":
        check("decode_roofline_fraction" not in r, "%s has a roofline fraction" % r["mode"])
        continue
    p = r["phases"][0]
    want = p["tokens"] / p["seconds"] * c["decode_weight_bytes"] / 1e10
    check(abs(r["decode_roofline_fraction"] - want) <= 1e-8 * want, "resident roofline fraction")  # %.10g
check(len(d["config"]["stream_ids"]) == d["config"]["stream_tokens"] == 20, "stream ids")
# The CPU computes in float32 whatever --prefill-precision says (tf32 here).
check(c["prefill_precision"] == "f32" and "tf32_prefill" not in c, "prefill_precision %s" % c.get("prefill_precision"))
check(c["prefill_runs"] == 3, "prefill_runs %s" % c.get("prefill_runs"))
check(c["kv_type"] == "f32", "kv_type %s" % c.get("kv_type"))  # auto on the CPU
print("\n".join(bad) if bad else "OK")
sys.exit(1 if bad else 0)
)PY";

TEST(BenchCommandTest, TinyPresetRunsEveryModeAndTheFiguresAddUp) {
  if (!HavePython()) GTEST_SKIP() << "python3 is needed to read the JSON back";
  const std::string json = TempPath("tiny.json");
  Result r = RunCommand(kTool + " bench --preset tiny --backend cpu --threads 2 --budgets 1 --tokens 20 --prompt-tokens 6 "
                         "--warmup 3 --batch 3 --batch-steps 2 --prefill 16,24 --probe-bytes 1048576 "
                         "--thresholds 0.5,0.75/1,1 --roofline-bandwidth 1e10 --prefill-precision tf32 --prefill-runs 3 "
                         "--json " + json);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // The tables come last, after the progress lines on stderr.
  const size_t table = r.output.rfind("cache and quality");
  ASSERT_NE(table, std::string::npos) << r.output;
  EXPECT_NE(r.output.find("hobbit 1/1       1 ", table), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("resident at batch 1: ", r.output.rfind("speed (b1")), std::string::npos) << r.output;
  Result check = CheckJson(json, kCheckTiny);
  EXPECT_EQ(check.exit_code, 0) << check.output;
}

// Resident's NLL over a text against one computed from `hobbit-tool logits` on the same ids
// (a different path: one prefill step instead of one token per step), and --tune's figures.
constexpr char kCheckText[] = R"PY(
import json, math, struct, sys
d = json.load(open(sys.argv[1]))
ids = d["config"]["stream_ids"]
n_vocab = d["config"]["n_vocab"]
raw = open(sys.argv[2], "rb").read()
rows = len(raw) // (4 * n_vocab)
nll = 0.0
for i in range(rows - 1):
    row = struct.unpack_from("<%df" % n_vocab, raw, 4 * n_vocab * i)
    m = max(row)
    lse = m + math.log(sum(math.exp(v - m) for v in row))
    nll += lse - row[ids[i + 1]]
nll /= rows - 1
bad = []
res = d["results"][0]
if res["mode"] != "resident" or abs(res["quality"]["mean_nll"] - nll) > 1e-3 * nll:
    bad.append("resident NLL %s, from the logits %s" % (res["quality"]["mean_nll"], nll))
if abs(res["quality"]["perplexity"] - math.exp(res["quality"]["mean_nll"])) > 1e-9 * res["quality"]["perplexity"]:
    bad.append("perplexity is not exp(NLL)")
for t in d["tuning"]:
    for k in ("lru", "lfu", "configured"):
        if t["best"]["miss_penalty_bytes"] > t[k]["miss_penalty_bytes"]:
            bad.append("tuned weights worse than " + k)
    c = t["lru"]
    if c["hits"] + c["misses_high"] + c["misses_low"] + c["misses_skip"] != t["lookups"] or t["lookups"] != 24 * 6 * 2:
        bad.append("replay lookups %d" % t["lookups"])
if len(d["tuning"]) != 1 or d["tuning"][0]["grid_points"] != 35:
    bad.append("tuning grid")
print("\n".join(bad) if bad else "OK")
sys.exit(1 if bad else 0)
)PY";

TEST(BenchCommandTest, DemoModelOnTextGivesResidentsPerplexityAndTunesTheWeights) {
  if (!HavePython()) GTEST_SKIP() << "python3 is needed to read the JSON back";
  const std::string json = TempPath("demo.json");
  const std::string text = kSource + "/tools/train/gguf_reference.py";
  Result r = RunCommand(kTool + " bench --model " + kDemo + " --text " + text + " --backend cpu --threads 2 --tokens 24 " +
                 "--warmup 2 --batch 0 --prefill none --budgets 0.5 --modes resident,hobbit --probe-bytes 1048576 " +
                 "--tune --calib-tokens 24 --json " + json);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("eviction weights tuned"), std::string::npos) << r.output;
  // The same ids through `logits` (one step of 24 tokens).
  Result ids = RunCommand("python3 -c 'import json,sys; print(\",\".join(map(str, json.load(open(sys.argv[1]))"
                   "[\"config\"][\"stream_ids\"])))' " + json);
  ASSERT_EQ(ids.exit_code, 0) << ids.output;
  ids.output.erase(ids.output.find_last_not_of("\n") + 1);
  const std::string logits = TempPath("demo_logits.f32");
  Result l = RunCommand(kTool + " logits --backend cpu --model " + kDemo + " --tokens " + ids.output + " --out " + logits);
  ASSERT_EQ(l.exit_code, 0) << l.output;
  Result check = CheckJson(json, kCheckText, logits);
  EXPECT_EQ(check.exit_code, 0) << check.output;
}

// --state-dir: the first run builds the low copies and writes them there, the second reads them.
TEST(BenchCommandTest, StateDirKeepsTheLowCopiesBetweenRuns) {
  const std::string dir = TempPath("bench_state");
  ASSERT_EQ(RunCommand("rm -rf " + dir + " && mkdir -p " + dir).exit_code, 0);
  const std::string run = kTool + " bench --model " + kDemo + " --backend cpu --threads 2 --tokens 4 --warmup 1 " +
                          "--batch 0 --prefill none --budgets 0.5 --modes hobbit --probe-bytes 4096 --state-dir " + dir;
  Result first = RunCommand(run);
  ASSERT_EQ(first.exit_code, 0) << first.output;
  EXPECT_NE(first.output.find("low-precision experts written to " + dir), std::string::npos) << first.output;
  Result second = RunCommand(run);
  ASSERT_EQ(second.exit_code, 0) << second.output;
  EXPECT_NE(second.output.find("low-precision experts read from " + dir), std::string::npos) << second.output;
  EXPECT_EQ(second.output.find("making low-precision experts"), std::string::npos) << second.output;
}

TEST(BenchCommandTest, BadUsageIsNamed) {
  // Each bad invocation exits 1 with a message naming the problem.
  const std::pair<std::string, std::string> cases[] = {
      {" bench --preset tiny --model " + kDemo, "exactly one of --model and --preset"},
      {" bench --preset tiny --budgets 0.25,lots", "--budgets: 'lots' is not a number"},
      {" bench --preset tiny --modes resident,fast", "unknown mode 'fast'"},
      {" bench --model " + kDemo + " --backend cpu --prefill 1024 --tokens 8 --warmup 1 --probe-bytes 4096",
       "exceeds the model's context of 512"},
      // The batched phase's 2 untimed warm-up steps count: 500 + 2 + 11 positions.
      {" bench --model " + kDemo + " --backend cpu --prompt-tokens 500 --batch 1 --batch-steps 11 --tokens 8 "
       "--warmup 1 --probe-bytes 4096",
       "a sequence of 513 tokens (--tokens, --prompt-tokens + 2 warm-up steps + --batch-steps, or --prefill) exceeds "
       "the model's context of 512"},
      {" bench --preset tiny --weights inf,0,0,0", "--weights: 'inf' is not a finite number"},
      {" bench --preset tiny --json /no/such/folder/out.json", "--json: cannot write '/no/such/folder/out.json'"},
      {" bench --preset tiny --roofline-bandwidth -4e12",
       "--roofline-bandwidth: -4e+12 must be a finite number of bytes/s >= 0"},
      {" bench --preset tiny --cuda-graphs maybe", "--cuda-graphs: expected on or off, got 'maybe'"},
      {" bench --preset tiny --prefill-precision bf16", "--prefill-precision: expected f16, tf32 or f32, got 'bf16'"},
      // The command's name once (the flag parser's value errors used to carry it a second time).
      {" bench --preset tiny --prefill-runs 0", "hobbit-tool bench: --prefill-runs = 0 is out of range [1, 100]"},
      {" bench --preset tiny --tokens many", "hobbit-tool bench: --tokens wants an integer, got 'many'"},
      {" bench --preset tiny --state-dir /tmp", "--state-dir needs --model"},
      {" bench --model " + kDemo + " --state-dir /no/such/folder", "--state-dir: /no/such/folder is not a directory"}};
  for (const auto& [args, message] : cases) {
    const Result r = RunCommand(kTool + args);
    EXPECT_EQ(r.exit_code, 1) << args;
    EXPECT_NE(r.output.find(message), std::string::npos) << args << "\n" << r.output;
  }
  const Result r = RunCommand(kTool + " bench --help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.output.find("--budgets"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace hobbit::tools
