#include "runtime/engine/engine_impl.h"

#include <cstdio>
#include <span>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace hobbit::runtime {
namespace {

// The loop wakes at least this often while idle, so the heartbeat (systemd watchdog) keeps
// beating without traffic.
constexpr absl::Duration kIdleWake = absl::Milliseconds(500);

}  // namespace

Engine::Impl::Impl(const EngineOptions& options, EngineParts parts, const SchedulerConfig& scheduler_config)
    : options_(options),
      scheduler_config_(scheduler_config),
      executor_(std::move(parts.executor)),
      tokenizer_(std::move(parts.tokenizer)),
      model_config_(std::move(parts.model_config)),
      chat_template_(std::move(parts.chat_template)),
      blocks_(parts.num_kv_blocks),
      scheduler_(scheduler_config, &blocks_) {
  limits_.n_vocab = model_config_.n_vocab;
  limits_.max_tokens_limit = options.scheduler.max_tokens_limit;
  limits_.max_stop_strings = options.scheduler.max_stop_strings;
  limits_.max_stop_string_bytes = options.scheduler.max_stop_string_bytes;
  limits_.scheduler = scheduler_config;
  limits_.num_kv_blocks = parts.num_kv_blocks;
  stats_.kv_blocks_total = parts.num_kv_blocks;
  loop_stats_.kv_blocks_total = parts.num_kv_blocks;
  thread_ = std::thread([this] { Loop(); });
}

Engine::Impl::~Impl() {
  {
    absl::MutexLock lock(&mu_);
    draining_ = true;
    stopping_ = true;
    abort_message_ = "engine shutting down";
    work_cv_.Signal();
  }
  thread_.join();
}

absl::StatusOr<RequestId> Engine::Impl::Submit(GenerateRequest request, EventSink sink) {
  if (!sink) return absl::InvalidArgumentError("sink: an event sink is required");
  if (absl::Status s = ValidateGenerateRequest(request, limits_); !s.ok()) return s;
  const absl::Time now = absl::Now();
  absl::MutexLock lock(&mu_);
  if (draining_) return absl::UnavailableError("the engine is draining and accepts no new requests");
  if (queued_ >= options_.scheduler.max_waiting) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "the waiting queue is full (%d requests wait for a slot); retry later", queued_));
  }
  const RequestId id = next_id_++;
  // Built under the lock so ids reach the engine thread in order; the constructor is cheap.
  submitted_.push_back(std::make_unique<RequestState>(id, std::move(request), std::move(sink), *tokenizer_,
                                                      model_config_.n_vocab, now));
  ++queued_;
  ++active_;
  work_cv_.Signal();
  return id;
}

void Engine::Impl::Cancel(RequestId id) {
  absl::MutexLock lock(&mu_);
  if (id == 0 || id >= next_id_) return;
  cancel_requests_.insert(id);
  work_cv_.Signal();
}

void Engine::Impl::Drain(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  draining_ = true;
  work_cv_.Signal();
  bool aborted = false;
  while (active_ > 0) {
    if (!aborted && absl::Now() >= deadline) {
      aborted = true;
      abort_message_ = "drain deadline passed";
      work_cv_.Signal();
    }
    drain_cv_.WaitWithDeadline(&mu_, aborted ? absl::InfiniteFuture() : deadline);
  }
}

EngineStats Engine::Impl::GetStats() const {
  absl::MutexLock lock(&mu_);
  EngineStats s = stats_;
  s.waiting += static_cast<int32_t>(submitted_.size());
  return s;
}

void Engine::Impl::SetHeartbeat(std::function<void()> heartbeat) {
  auto shared = heartbeat ? std::make_shared<const std::function<void()>>(std::move(heartbeat)) : nullptr;
  absl::MutexLock lock(&mu_);
  heartbeat_ = std::move(shared);
}

void Engine::Impl::Loop() {
  while (true) {
    Intake intake = TakeIntake(scheduler_.has_work());
    Beat();
    const bool stopping = intake.stopping;
    StepEvents events;
    RunStep(std::move(intake), &events);
    PublishAndEmit(&events);
    if (stopping && requests_.empty()) {
      absl::MutexLock lock(&mu_);
      if (submitted_.empty()) return;
    }
  }
}

Engine::Impl::Intake Engine::Impl::TakeIntake(bool engine_busy) {
  absl::MutexLock lock(&mu_);
  const bool callers_waiting =
      !submitted_.empty() || !cancel_requests_.empty() || !abort_message_.empty() || stopping_;
  if (!engine_busy && !callers_waiting) work_cv_.WaitWithTimeout(&mu_, kIdleWake);
  Intake intake;
  intake.submitted = std::move(submitted_);
  submitted_.clear();
  intake.cancelled.assign(cancel_requests_.begin(), cancel_requests_.end());
  cancel_requests_.clear();
  intake.abort_message = std::move(abort_message_);
  abort_message_.clear();
  intake.stopping = stopping_;
  return intake;
}

void Engine::Impl::Beat() {
  std::shared_ptr<const std::function<void()>> heartbeat;
  {
    absl::MutexLock lock(&mu_);
    heartbeat = heartbeat_;
  }
  if (heartbeat) (*heartbeat)();
}

void Engine::Impl::RunStep(Intake intake, StepEvents* events) {
  AdmitSubmitted(std::move(intake.submitted), events);
  for (RequestId id : intake.cancelled) scheduler_.Cancel(static_cast<int64_t>(id));
  if (!intake.abort_message.empty()) {
    std::vector<RequestId> ids;
    for (const auto& [id, req] : requests_) ids.push_back(id);
    for (RequestId id : ids) {
      scheduler_.Finish(static_cast<int64_t>(id));
      FinishRequest(id, FinishReason::kAborted, intake.abort_message, events);
    }
  }
  if (scheduler_.has_work()) ScheduleAndExecute(events);
}

void Engine::Impl::AdmitSubmitted(std::vector<std::unique_ptr<RequestState>> submitted, StepEvents* events) {
  for (std::unique_ptr<RequestState>& req : submitted) {
    const RequestId id = req->id();
    absl::Status s = scheduler_.Add(static_cast<int64_t>(id), req->request().prompt_tokens, req->request().max_tokens);
    if (s.ok()) executor_->BeginSequence(static_cast<int64_t>(id), req->request().precision_policy);
    requests_.emplace(id, std::move(req));
    // Submit checked every limit already; a failure here is our fault, reported on the stream.
    if (!s.ok()) FinishRequest(id, FinishReason::kError, absl::StrCat("scheduler rejected the request: ", s.message()), events);
  }
}

void Engine::Impl::ScheduleAndExecute(StepEvents* events) {
  SchedulerOutput out = scheduler_.Schedule();
  const absl::Time now = absl::Now();
  for (int64_t id : out.cancelled) {
    FinishRequest(static_cast<RequestId>(id), FinishReason::kCancelled, "", events);
  }
  for (int64_t id : out.first_admitted) {
    auto it = requests_.find(static_cast<RequestId>(id));
    if (it == requests_.end()) continue;
    it->second->MarkScheduled(now);
    loop_stats_.prompt_tokens_total += it->second->num_prompt_tokens();
    ++events->left_queue;
  }
  loop_stats_.preemptions += out.preempted.size();
  if (out.plan.seqs.empty()) return;
  ++loop_stats_.steps;
  // Callers see the admissions (queue room, running count) while the step executes.
  PublishStats(events);
  ExecutePlan(out.plan, events);
}

absl::Status Engine::Impl::CheckOutput(const StepPlan& plan, const StepOutput& out) const {
  int32_t rows = 0;
  for (const StepSequence& seq : plan.seqs) rows += seq.logits == LogitsWanted::kNone ? 0 : 1;
  if (out.n_rows != rows || out.n_vocab != model_config_.n_vocab ||
      out.logits.size() != static_cast<size_t>(rows) * static_cast<size_t>(model_config_.n_vocab)) {
    return absl::InternalError(absl::StrFormat(
        "step output has %d rows of %d logits (%d values), expected %d rows of %d", out.n_rows, out.n_vocab,
        out.logits.size(), rows, model_config_.n_vocab));
  }
  return absl::OkStatus();
}

void Engine::Impl::ExecutePlan(const StepPlan& plan, StepEvents* events) {
  StepOutput& out = step_output_;
  absl::Status status = executor_->Execute(plan, &out);
  if (status.ok()) status = CheckOutput(plan, out);
  if (!status.ok()) {
    // The step's sequences fail; the others (and the engine) carry on.
    const std::string message = absl::StrCat("model step failed: ", status.ToString());
    for (const StepSequence& seq : plan.seqs) {
      scheduler_.Finish(seq.seq_id);
      FinishRequest(static_cast<RequestId>(seq.seq_id), FinishReason::kError, message, events);
    }
    return;
  }
  const absl::Time now = absl::Now();
  const size_t n_vocab = static_cast<size_t>(out.n_vocab);
  std::vector<int32_t> sampled(plan.seqs.size(), Scheduler::kNoToken);
  std::vector<std::optional<FinishReason>> finish(plan.seqs.size());
  size_t row = 0;
  for (size_t i = 0; i < plan.seqs.size(); ++i) {
    if (plan.seqs[i].logits == LogitsWanted::kNone) continue;
    RequestState& req = *requests_.at(static_cast<RequestId>(plan.seqs[i].seq_id));
    std::span<const float> logits(out.logits.data() + row * n_vocab, n_vocab);
    ++row;
    RequestState::TokenOutcome outcome = req.OnLogits(logits, scheduler_config_.max_context, now);
    sampled[i] = outcome.token;
    finish[i] = outcome.finish;
    ++loop_stats_.generated_tokens_total;
  }
  scheduler_.Update(plan, sampled);
  for (size_t i = 0; i < plan.seqs.size(); ++i) {
    const auto id = static_cast<RequestId>(plan.seqs[i].seq_id);
    if (finish[i].has_value()) {
      scheduler_.Finish(plan.seqs[i].seq_id);
      FinishRequest(id, *finish[i], "", events);
    } else if (std::optional<GenerateEvent> chunk = requests_.at(id)->TakeChunk()) {
      events->emissions.emplace_back(requests_.at(id).get(), std::move(*chunk));
    }
  }
}

void Engine::Impl::FinishRequest(RequestId id, FinishReason reason, std::string message, StepEvents* events) {
  auto it = requests_.find(id);
  if (it == requests_.end()) return;
  std::unique_ptr<RequestState> req = std::move(it->second);
  requests_.erase(it);
  if (std::optional<GenerateEvent> chunk = req->TakeChunk()) events->emissions.emplace_back(req.get(), std::move(*chunk));
  GenerateEvent final_event = req->MakeFinal(reason, std::move(message), absl::Now());
  final_event.final.expert_stats = executor_->EndSequence(static_cast<int64_t>(id));
  if (!req->scheduled()) ++events->left_queue;
  ++loop_stats_.requests_finished;
  events->emissions.emplace_back(req.get(), std::move(final_event));
  events->done.push_back(std::move(req));
}

void Engine::Impl::PublishStats(StepEvents* events) {
  loop_stats_.running = scheduler_.num_running();
  loop_stats_.waiting = scheduler_.num_waiting();
  loop_stats_.kv_blocks_used = scheduler_.num_blocks_used();
  loop_stats_.experts = executor_->ExpertTotals();
  loop_stats_.expert_cache = executor_->ExpertCacheOccupancy();
  loop_stats_.recordings = executor_->Recordings();
  absl::MutexLock lock(&mu_);
  stats_ = loop_stats_;
  queued_ -= events->left_queue;
  events->left_queue = 0;
}

void Engine::Impl::PublishAndEmit(StepEvents* events) {
  // Published before the events go out: whoever sees an event also sees the step's state.
  PublishStats(events);
  for (auto& [req, event] : events->emissions) req->Emit(std::move(event));
  const auto finished = static_cast<int32_t>(events->done.size());
  events->done.clear();  // drops the finished requests' sinks
  if (finished > 0) {
    absl::MutexLock lock(&mu_);
    active_ -= finished;
    if (active_ == 0) drain_cv_.SignalAll();
  }
}

}  // namespace hobbit::runtime
