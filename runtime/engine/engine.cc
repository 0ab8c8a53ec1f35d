#include "runtime/engine/engine.h"

#include <utility>

#include "absl/strings/str_format.h"
#include "kernels/base/status_macros.h"
#include "runtime/engine/engine_impl.h"
#include "runtime/engine/engine_parts.h"
#include "runtime/engine/model_step_executor.h"
#include "runtime/engine/resolve_options.h"
#include "runtime/gguf/gguf_file.h"
#include "runtime/tokenizer/tokenizer_vocab.h"

namespace hobbit::runtime {

absl::StatusOr<std::unique_ptr<Engine>> Engine::Create(const EngineOptions& options,
                                                       std::function<void(std::string_view)> progress) {
  if (progress) progress("opening " + options.model_path);
  HOBBIT_ASSIGN_OR_RETURN(std::unique_ptr<GgufFile> opened, GgufFile::Open(options.model_path));
  std::shared_ptr<const GgufFile> file = std::move(opened);
  EngineParts parts;
  if (progress) progress("loading tokenizer");
  HOBBIT_ASSIGN_OR_RETURN(TokenizerVocab vocab, LoadTokenizerVocab(*file));
  HOBBIT_ASSIGN_OR_RETURN(parts.tokenizer, Tokenizer::Create(std::move(vocab)));
  if (file->Find("tokenizer.chat_template") != nullptr) {
    HOBBIT_ASSIGN_OR_RETURN(parts.chat_template, file->GetString("tokenizer.chat_template"));
  }
  HOBBIT_ASSIGN_OR_RETURN(std::unique_ptr<ModelStepExecutor> executor,
                          ModelStepExecutor::Create(file, options, progress));
  parts.model_config = executor->model_config();
  parts.num_kv_blocks = executor->num_kv_blocks();
  parts.executor = std::move(executor);
  return CreateFromParts(options, std::move(parts));
}

absl::StatusOr<std::unique_ptr<Engine>> Engine::CreateFromParts(const EngineOptions& options, EngineParts parts) {
  if (parts.executor == nullptr || parts.tokenizer == nullptr) {
    return absl::InvalidArgumentError("engine parts: a step executor and a tokenizer are required");
  }
  if (parts.model_config.n_vocab < 1) {
    return absl::InvalidArgumentError(
        absl::StrFormat("engine parts: model n_vocab %d is out of range; it must be >= 1", parts.model_config.n_vocab));
  }
  if (parts.num_kv_blocks < 1) {
    return absl::InvalidArgumentError(
        absl::StrFormat("engine parts: %d KV blocks; at least 1 is required", parts.num_kv_blocks));
  }
  HOBBIT_ASSIGN_OR_RETURN(SchedulerConfig config, ResolveSchedulerConfig(options, parts.model_config.n_ctx_train));
  auto impl = std::make_unique<Impl>(options, std::move(parts), config);
  return std::unique_ptr<Engine>(new Engine(std::move(impl)));
}

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() = default;

absl::StatusOr<RequestId> Engine::Submit(GenerateRequest request, EventSink sink) {
  return impl_->Submit(std::move(request), std::move(sink));
}
void Engine::Cancel(RequestId id) { impl_->Cancel(id); }
void Engine::Drain(absl::Time deadline) { impl_->Drain(deadline); }
const Tokenizer& Engine::tokenizer() const { return impl_->tokenizer(); }
const ModelConfig& Engine::model_config() const { return impl_->model_config(); }
const std::string& Engine::chat_template() const { return impl_->chat_template(); }
std::string Engine::backend_name() const { return impl_->backend_name(); }
EngineStats Engine::GetStats() const { return impl_->GetStats(); }
void Engine::SetHeartbeat(std::function<void()> heartbeat) { impl_->SetHeartbeat(std::move(heartbeat)); }

}  // namespace hobbit::runtime
