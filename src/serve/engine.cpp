#include "serve/engine.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <list>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "model/sequence_generator.h"
#include "serve/prompt_cache.h"

namespace flywheel::serve {

namespace {

using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

// One request on its way through the scheduler.
struct Sequence {
  EngineRequest request;
  GenerationRequest generation;  // what SequenceGenerator reads (kept alive here)
  OnText on_text;
  OnDone on_done;
  std::shared_ptr<RequestHandle> handle;
  std::shared_ptr<std::atomic<bool>> superseded = std::make_shared<std::atomic<bool>>(false);

  std::unique_ptr<KvCache> cache;
  std::vector<TokenId> cached;  // the tokens whose keys and values are in `cache`, in order
  int64_t reused_tokens = 0;    // of the prompt, from the prompt cache
  std::unique_ptr<SequenceGenerator> generator;
  TokenId fed = 0;       // the decode step's input token
  bool sampled = false;  // the prompt is done and at least one token was sampled

  Clock::time_point submitted, admitted, first_token;

  bool prefilling() const { return !sampled; }
};

// Why a sequence must end before its next step, or nullptr.
const char* end_reason(const Sequence& seq, Clock::time_point now) {
  if (seq.superseded->load()) return "superseded";
  if (seq.handle->cancelled()) return "cancelled";
  if (now >= seq.request.deadline) return "deadline";
  return nullptr;
}

}  // namespace

struct Engine::Impl {
  EngineOptions options;

  // Shared with submitting threads, under `mutex`.
  std::mutex mutex;
  std::condition_variable wake;  // the scheduler: work arrived or stop
  std::condition_variable idle;  // drain(): nothing queued or active
  std::deque<std::unique_ptr<Sequence>> queue;
  std::vector<const ServedModel*> forget_requests;
  std::unordered_map<std::string, std::shared_ptr<std::atomic<bool>>> latest_by_key;  // supersede_key -> flag
  bool accepting = true;
  bool stopping = false;
  int64_t active_count = 0;  // mirrors active.size() for stats and drain

  // The scheduler thread's own state.
  std::vector<std::unique_ptr<Sequence>> active;
  PromptCache prompt_cache;

  std::atomic<int64_t> requests_done{0}, prompt_tokens{0}, cached_prompt_tokens{0}, generated_tokens{0}, steps{0};
  std::atomic<int64_t> cache_entries{0}, cache_bytes{0};

  std::thread thread;

  explicit Impl(EngineOptions o) : options(o), prompt_cache(o.prompt_cache_bytes) {}

  void run();
  void admit(Sequence& seq);
  void finish(std::unique_ptr<Sequence>& seq, std::string reason);
  void fail(std::unique_ptr<Sequence>& seq, const Status& status);
  void step();
  void publish_cache_stats() {
    cache_entries = prompt_cache.entries();
    cache_bytes = prompt_cache.bytes();
  }
};

Engine::Engine(EngineOptions options) : impl_(std::make_unique<Impl>(options)) {
  impl_->thread = std::thread([impl = impl_.get()] { impl->run(); });
}

Engine::~Engine() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->accepting = false;
    impl_->stopping = true;
  }
  impl_->wake.notify_all();
  if (impl_->thread.joinable()) impl_->thread.join();
}

std::shared_ptr<RequestHandle> Engine::submit(EngineRequest request, OnText on_text, OnDone on_done) {
  auto handle = std::make_shared<RequestHandle>();
  if (!request.model || !request.model->model) {
    on_done(Status::invalid_argument("the request names no model"));
    return handle;
  }
  auto seq = std::make_unique<Sequence>();
  seq->generation.prompt = request.prompt;
  seq->generation.params = request.params;
  seq->generation.stop_token_ids = request.stop_token_ids;
  seq->generation.single_line = request.single_line;
  if (Status valid = validate_generation_request(*request.model->model, seq->generation); !valid.ok()) {
    on_done(valid);
    return handle;
  }
  seq->request = std::move(request);
  seq->on_text = std::move(on_text);
  seq->on_done = std::move(on_done);
  seq->handle = handle;
  seq->submitted = Clock::now();

  Status refused;
  {
    std::lock_guard lock(impl_->mutex);
    if (!impl_->accepting) {
      refused = Status(StatusCode::kUnavailable, "the server is shutting down");
    } else if (static_cast<int64_t>(impl_->queue.size()) >= impl_->options.max_queue) {
      refused = Status::resource_exhausted("the request queue is full (" + std::to_string(impl_->options.max_queue) +
                                           " waiting); retry shortly");
    } else {
      if (!seq->request.supersede_key.empty()) {
        auto& latest = impl_->latest_by_key[seq->request.supersede_key];
        if (latest) latest->store(true);
        latest = seq->superseded;
        // Keys of finished sessions would accumulate forever; drop stale ones now and then.
        if (impl_->latest_by_key.size() > 4096)
          std::erase_if(impl_->latest_by_key, [](const auto& kv) { return kv.second.use_count() == 1; });
      }
      impl_->queue.push_back(std::move(seq));
    }
  }
  if (!refused.ok()) {
    seq->on_done(refused);
    return handle;
  }
  impl_->wake.notify_one();
  return handle;
}

void Engine::drain(std::chrono::milliseconds timeout) {
  std::unique_lock lock(impl_->mutex);
  impl_->accepting = false;
  bool drained = impl_->idle.wait_for(lock, timeout, [&] { return impl_->queue.empty() && impl_->active_count == 0; });
  if (!drained) {
    spdlog::warn("engine: drain timed out after {} ms; cancelling {} queued and {} running requests", timeout.count(),
                 impl_->queue.size(), impl_->active_count);
    for (auto& seq : impl_->queue) seq->handle->cancel();
    // Active ones are cancelled through their handles by the scheduler.
    impl_->stopping = true;
    lock.unlock();
    impl_->wake.notify_all();
  }
}

void Engine::forget_model(const ServedModel* model) {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->forget_requests.push_back(model);
  }
  impl_->wake.notify_one();
}

EngineStats Engine::stats() const {
  EngineStats s;
  {
    std::lock_guard lock(impl_->mutex);
    s.queue_depth = static_cast<int64_t>(impl_->queue.size());
    s.active_sequences = impl_->active_count;
  }
  s.requests_done = impl_->requests_done;
  s.prompt_tokens = impl_->prompt_tokens;
  s.cached_prompt_tokens = impl_->cached_prompt_tokens;
  s.generated_tokens = impl_->generated_tokens;
  s.prompt_cache_entries = impl_->cache_entries;
  s.prompt_cache_bytes = impl_->cache_bytes;
  s.steps = impl_->steps;
  return s;
}

void Engine::Impl::run() {
  for (;;) {
    std::vector<std::unique_ptr<Sequence>> admitted;
    std::vector<const ServedModel*> forget;
    bool stop_now = false;
    {
      std::unique_lock lock(mutex);
      wake.wait(lock, [&] { return stopping || !queue.empty() || !active.empty() || !forget_requests.empty(); });
      forget.swap(forget_requests);
      if (stopping) {
        stop_now = true;
        while (!queue.empty()) {
          admitted.push_back(std::move(queue.front()));
          queue.pop_front();
        }
      }
    }
    for (const ServedModel* model : forget) prompt_cache.forget(model);
    if (stop_now) {
      for (auto& seq : admitted) finish(seq, "cancelled");
      for (auto& seq : active) finish(seq, "cancelled");
      active.clear();
      std::lock_guard lock(mutex);
      active_count = 0;
      idle.notify_all();
      return;
    }

    // Cancelled, superseded and late sequences leave first, so that their
    // caches are back in the prompt cache before newcomers look for a prefix.
    const auto now = Clock::now();
    for (auto& seq : active)
      if (const char* reason = end_reason(*seq, now)) finish(seq, reason);
    std::erase(active, nullptr);

    {
      std::lock_guard lock(mutex);
      while (static_cast<int>(active.size() + admitted.size()) < options.max_batch && !queue.empty()) {
        admitted.push_back(std::move(queue.front()));
        queue.pop_front();
      }
    }
    // The clock again: a request queued since `now` may already be late.
    const auto admit_now = Clock::now();
    for (auto& seq : admitted) {
      if (const char* reason = end_reason(*seq, admit_now)) {
        finish(seq, reason);
      } else {
        admit(*seq);
        active.push_back(std::move(seq));
      }
    }
    {
      std::lock_guard lock(mutex);
      active_count = static_cast<int64_t>(active.size());
    }
    if (!active.empty()) step();
    publish_cache_stats();
    {
      std::lock_guard lock(mutex);
      active_count = static_cast<int64_t>(active.size());
      if (queue.empty() && active.empty()) idle.notify_all();
    }
  }
}

void Engine::Impl::admit(Sequence& seq) {
  seq.admitted = Clock::now();
  const auto& prompt = seq.generation.prompt;
  seq.generator = std::make_unique<SequenceGenerator>(*seq.request.model->model, seq.generation);
  const int64_t needed = static_cast<int64_t>(prompt.size()) + seq.generator->budget();
  // At least the last prompt token is run again: its logits start decoding.
  auto reused = prompt_cache.take(seq.request.model, seq.request.cache_scope,
                                  std::span<const TokenId>(prompt).first(prompt.size() - 1));
  if (reused) {
    seq.cache = std::move(reused->cache);
    seq.cache->truncate(reused->common_tokens);
    seq.cache->reserve(needed);
    seq.reused_tokens = reused->common_tokens;
    seq.cached.assign(prompt.begin(), prompt.begin() + reused->common_tokens);
  } else {
    seq.cache = seq.request.model->model->new_cache(needed);
  }
  prompt_tokens += static_cast<int64_t>(prompt.size());
  cached_prompt_tokens += seq.reused_tokens;
}

void Engine::Impl::finish(std::unique_ptr<Sequence>& seq, std::string reason) {
  if (!seq) return;
  EngineResult result;
  const auto now = Clock::now();
  if (seq->generator) {
    if (!seq->generator->done()) seq->generator->cancel(reason);
    GenerationResult& g = seq->generator->result();
    result.text = std::move(g.text);
    result.tokens = std::move(g.tokens);
    result.logprobs = std::move(g.logprobs);
    result.finish_reason = g.finish_reason;
    result.show_probability = g.show_probability;
    result.withheld = g.withheld;
  } else {
    result.finish_reason = reason;
  }
  const bool started = seq->admitted != Clock::time_point{};
  result.prompt_tokens = static_cast<int64_t>(seq->generation.prompt.size());
  result.cached_tokens = seq->reused_tokens;
  result.model_id = seq->request.model->id;
  result.queue_ms = ms_between(seq->submitted, started ? seq->admitted : now);
  if (seq->sampled) {
    result.prefill_ms = ms_between(seq->admitted, seq->first_token);
    result.decode_ms = ms_between(seq->first_token, now);
  } else if (started) {
    result.prefill_ms = ms_between(seq->admitted, now);
  }
  generated_tokens += static_cast<int64_t>(result.tokens.size());
  requests_done += 1;
  seq->on_done(std::move(result));
  if (seq->cache && seq->cache->length() > 0) {
    seq->cache->truncate(static_cast<int64_t>(seq->cached.size()));
    prompt_cache.put(seq->request.model, seq->request.cache_scope, std::move(seq->cached), std::move(seq->cache));
  }
  seq.reset();
}

void Engine::Impl::fail(std::unique_ptr<Sequence>& seq, const Status& status) {
  requests_done += 1;
  seq->on_done(status);
  seq.reset();  // its cache may be half written: not reused
}

void Engine::Impl::step() {
  // Decodes first (one token each: they hold the latency of every streaming
  // client), then prompt chunks in arrival order within the token budget.
  struct Planned {
    Sequence* seq;
    int64_t count;
    bool wants_logits;
  };
  std::map<const ServedModel*, std::vector<Planned>> by_model;
  int64_t budget = options.max_step_tokens;
  for (auto& seq : active) {
    if (seq->prefilling()) continue;
    by_model[seq->request.model.get()].push_back({seq.get(), 1, true});
    budget -= 1;
  }
  for (auto& seq : active) {
    if (!seq->prefilling()) continue;
    const int64_t remaining = static_cast<int64_t>(seq->generation.prompt.size() - seq->cached.size());
    int64_t count = std::min({remaining, options.prefill_chunk, std::max<int64_t>(budget, 0)});
    if (count <= 0) continue;
    budget -= count;
    by_model[seq->request.model.get()].push_back({seq.get(), count, count == remaining});
  }

  for (auto& [model_ptr, planned] : by_model) {
    std::vector<ForwardItem> items;
    items.reserve(planned.size());
    std::vector<float> show(planned.size(), 0.0f);
    for (size_t i = 0; i < planned.size(); ++i) {
      Sequence& s = *planned[i].seq;
      std::span<const TokenId> tokens =
          s.prefilling() ? std::span<const TokenId>(s.generation.prompt).subspan(s.cached.size(), planned[i].count)
                         : std::span<const TokenId>(&s.fed, 1);
      const bool ask_show = planned[i].wants_logits && s.generator->wants_show_probability();
      items.push_back({s.cache.get(), tokens, false, ask_show ? &show[i] : nullptr});
    }
    auto logits = planned.front().seq->request.model->model->forward(items);
    steps += 1;
    for (size_t i = 0; i < planned.size(); ++i) {
      Sequence& s = *planned[i].seq;
      auto owner = std::find_if(active.begin(), active.end(), [&](const auto& a) { return a.get() == &s; });
      if (!logits.ok()) {
        spdlog::error("engine: forward step failed for model {}: {}", s.request.model->id, logits.status().to_string());
        fail(*owner, logits.status());
        continue;
      }
      s.cached.insert(s.cached.end(), items[i].tokens.begin(), items[i].tokens.end());
      if (!planned[i].wants_logits) continue;
      if (!s.sampled) {
        s.sampled = true;
        s.first_token = Clock::now();
      }
      std::string text =
          s.generator->next((*logits)[i], items[i].show_probability ? std::optional<float>(show[i]) : std::nullopt);
      s.fed = s.generator->last_token();
      if (!text.empty() && s.on_text && !s.on_text(text)) s.generator->cancel("cancelled");
      if (s.generator->done()) finish(*owner, s.generator->result().finish_reason);
    }
  }
  std::erase(active, nullptr);
}

}  // namespace flywheel::serve
