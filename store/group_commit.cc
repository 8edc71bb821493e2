#include "store/group_commit.h"

#include <functional>
#include <vector>

namespace gatehouse::store {

GroupCommit::GroupCommit(BatchStore& store, std::size_t max_batch)
    : store_(store), max_batch_(max_batch == 0 ? 1 : max_batch), writer_([this] { loop(); }) {}

GroupCommit::~GroupCommit() { stop(); }

void GroupCommit::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (writer_.joinable()) writer_.join();
}

std::size_t GroupCommit::batches() const {
  std::lock_guard lock(mu_);
  return batches_;
}

std::size_t GroupCommit::jobs() const {
  std::lock_guard lock(mu_);
  return jobs_;
}

void GroupCommit::submit(std::unique_ptr<Job> job) {
  {
    std::unique_lock lock(mu_);
    if (!stopped_) {
      queue_.push_back(std::move(job));
      lock.unlock();
      wake_.notify_one();
      return;
    }
  }
  // The writer is gone: run it here, as a batch of one.
  std::deque<std::unique_ptr<Job>> alone;
  alone.push_back(std::move(job));
  run_batch(alone);
}

void GroupCommit::run_batch(std::deque<std::unique_ptr<Job>>& batch) {
  std::vector<std::function<void()>> calls;
  calls.reserve(batch.size());
  for (auto& job : batch) calls.emplace_back([j = job.get()] { j->run(); });
  const auto outcome = store_.run_batch(calls);
  for (std::size_t i = 0; i < batch.size(); ++i)
    if (i < outcome.size() && !outcome[i]) batch[i]->lost(outcome[i].error());
  {
    std::lock_guard lock(mu_);
    ++batches_;
    jobs_ += batch.size();
  }
  for (auto& job : batch) job->complete();
  batch.clear();
}

void GroupCommit::loop() {
  std::deque<std::unique_ptr<Job>> batch;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) {
        stopped_ = true;  // stopping, and nothing left to run
        return;
      }
      while (!queue_.empty() && batch.size() < max_batch_) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    run_batch(batch);
  }
}

}  // namespace gatehouse::store
