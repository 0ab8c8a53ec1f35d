// hobbit-tool generate: generate text from a prompt on the CPU, streaming it to stdout.
#include <chrono>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "kernels/base/status_macros.h"
#include "runtime/model/sequence_runner.h"
#include "runtime/sampling/sampler.h"
#include "runtime/sampling/sampling_params.h"
#include "runtime/sampling/stop_string_matcher.h"
#include "runtime/tokenizer/streaming_detokenizer.h"
#include "runtime/tokenizer/tokenizer.h"
#include "runtime/tokenizer/tokenizer_vocab.h"
#include "tools/hobbit_tool/commands.h"
#include "tools/hobbit_tool/flag_parser.h"
#include "tools/hobbit_tool/loaded_model.h"

namespace hobbit::tools {
namespace {

absl::StatusOr<runtime::SamplingParams> ReadSampling(const FlagParser& flags) {
  runtime::SamplingParams p;
  HOBBIT_ASSIGN_OR_RETURN(double temperature, flags.GetDouble("temperature"));
  HOBBIT_ASSIGN_OR_RETURN(int64_t top_k, flags.GetInt("top-k", 0, 1 << 20));
  HOBBIT_ASSIGN_OR_RETURN(double top_p, flags.GetDouble("top-p"));
  HOBBIT_ASSIGN_OR_RETURN(double min_p, flags.GetDouble("min-p"));
  HOBBIT_ASSIGN_OR_RETURN(double repeat, flags.GetDouble("repeat-penalty"));
  HOBBIT_ASSIGN_OR_RETURN(double presence, flags.GetDouble("presence-penalty"));
  HOBBIT_ASSIGN_OR_RETURN(double frequency, flags.GetDouble("frequency-penalty"));
  HOBBIT_ASSIGN_OR_RETURN(int64_t seed, flags.GetInt("seed", 0, INT64_MAX));
  p.temperature = static_cast<float>(temperature);
  p.top_k = static_cast<int32_t>(top_k);
  p.top_p = static_cast<float>(top_p);
  p.min_p = static_cast<float>(min_p);
  p.repetition_penalty = static_cast<float>(repeat);
  p.presence_penalty = static_cast<float>(presence);
  p.frequency_penalty = static_cast<float>(frequency);
  p.seed = static_cast<uint64_t>(seed);
  HOBBIT_RETURN_IF_ERROR(runtime::ValidateSamplingParams(p));
  return p;
}

absl::Status Generate(const FlagParser& flags) {
  HOBBIT_ASSIGN_OR_RETURN(runtime::SamplingParams sampling, ReadSampling(flags));
  HOBBIT_ASSIGN_OR_RETURN(int64_t max_tokens, flags.GetInt("max-tokens", 1, 1 << 20));
  HOBBIT_ASSIGN_OR_RETURN(int64_t threads, flags.GetInt("threads", 0, 1024));
  HOBBIT_ASSIGN_OR_RETURN(LoadedModel m, LoadModel(flags.GetString("model"), flags.GetString("backend"), static_cast<int>(threads)));
  HOBBIT_ASSIGN_OR_RETURN(runtime::TokenizerVocab vocab, runtime::LoadTokenizerVocab(*m.file));
  HOBBIT_ASSIGN_OR_RETURN(auto tokenizer, runtime::Tokenizer::Create(std::move(vocab)));
  const std::vector<int32_t> prompt = tokenizer->Encode(flags.GetString("prompt"), true, false);
  if (prompt.empty()) return absl::InvalidArgumentError("--prompt: the prompt encodes to no tokens");
  const int32_t n_ctx = m.model->config().n_ctx_train;
  if (static_cast<int64_t>(prompt.size()) + max_tokens > n_ctx) {
    return absl::InvalidArgumentError(absl::StrCat("prompt (", prompt.size(), " tokens) + --max-tokens ", max_tokens,
                                                   " exceeds the model's context of ", n_ctx));
  }
  runtime::SequenceRunner runner(*m.model, *m.backend);
  HOBBIT_RETURN_IF_ERROR(runner.Init(static_cast<int32_t>(prompt.size() + max_tokens)));
  runtime::Sampler sampler(sampling, m.model->config().n_vocab);
  for (int32_t t : prompt) sampler.Accept(t);
  runtime::StreamingDetokenizer detok(*tokenizer, /*skip_special=*/true, /*sequence_start=*/false);
  runtime::StopStringMatcher stops(flags.GetAll("stop"));
  const bool ignore_eos = flags.GetSwitch("ignore-eos");

  const auto start = std::chrono::steady_clock::now();
  runtime::StepOutput out;
  HOBBIT_RETURN_IF_ERROR(runner.Append(prompt, runtime::LogitsWanted::kLast, &out));
  const auto prefilled = std::chrono::steady_clock::now();
  int64_t generated = 0;
  const char* reason = "length";
  while (generated < max_tokens) {
    const int32_t next = sampler.Sample(out.logits);
    sampler.Accept(next);
    ++generated;
    if (!ignore_eos && tokenizer->IsEndOfGeneration(next)) {
      reason = "end of generation";
      break;
    }
    const runtime::StopStringMatcher::Result r = stops.Push(detok.Push(next));
    std::fputs(r.emit.c_str(), stdout);
    std::fflush(stdout);
    if (r.stopped) {
      reason = "stop string";
      break;
    }
    if (generated < max_tokens) HOBBIT_RETURN_IF_ERROR(runner.Append({&next, 1}, runtime::LogitsWanted::kLast, &out));
  }
  if (std::string(reason) != "stop string") {
    const runtime::StopStringMatcher::Result r = stops.Push(detok.Flush());
    std::fputs((r.emit + (r.stopped ? "" : stops.Flush())).c_str(), stdout);
  }
  std::fputs("\n", stdout);
  const auto end = std::chrono::steady_clock::now();
  const double prefill_s = std::chrono::duration<double>(prefilled - start).count();
  const double decode_s = std::chrono::duration<double>(end - prefilled).count();
  std::fprintf(stderr, "[%zu prompt tokens in %.3f s; %lld generated in %.3f s, %.1f tokens/s; stopped: %s]\n",
               prompt.size(), prefill_s, static_cast<long long>(generated), decode_s,
               decode_s > 0 ? generated / decode_s : 0.0, reason);
  return absl::OkStatus();
}

}  // namespace

int RunGenerate(const std::vector<std::string>& args) {
  FlagParser flags("generate");
  flags.Add("model", "GGUF model file", true);
  flags.Add("prompt", "prompt text", true);
  flags.Add("max-tokens", "tokens to generate", false, false, "128");
  flags.Add("temperature", "0 = greedy", false, false, "0.8");
  flags.Add("top-k", "0 = off", false, false, "40");
  flags.Add("top-p", "nucleus mass, (0, 1]", false, false, "0.95");
  flags.Add("min-p", "[0, 1)", false, false, "0.05");
  flags.Add("repeat-penalty", "> 0; 1 = off", false, false, "1.0");
  flags.Add("presence-penalty", "0 = off", false, false, "0");
  flags.Add("frequency-penalty", "0 = off", false, false, "0");
  flags.Add("seed", "sampling seed", false, false, "0");
  flags.Add("stop", "stop string (repeat the flag for several)");
  flags.Add("ignore-eos", "keep generating past end-of-generation tokens", false, true);
  flags.Add("threads", "CPU threads (0: all cores)", false, false, "0");
  flags.Add("backend", "cpu, cuda, or auto (CUDA when a GPU is present)", false, false, "auto");
  if (auto code = flags.ParseOrExit(args)) return *code;
  if (auto s = Generate(flags); !s.ok()) {
    std::fprintf(stderr, "hobbit-tool generate: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  return 0;
}

}  // namespace hobbit::tools
