#pragma once
// Group commit for the event loops: store work submitted by coroutines runs on one
// writer thread, as many queued jobs as there are (up to a limit) in one write
// transaction (BatchStore::run_batch). The event loops never wait for the store's lock
// or its disk writes, and concurrent logins share one commit instead of paying one
// each: fewer locks, and the pages that several inserts touch are written once.
//
// A job's result reaches its coroutine only after the transaction that holds its
// writes is committed, so what a request wrote is durable (and visible to the admin
// CLI) before its response is sent. A job whose writes were lost gets the store's
// error as its result instead of its own.
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <utility>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/result.h"
#include "store/store.h"

namespace gatehouse::store {

class GroupCommit {
 public:
  static constexpr std::size_t kDefaultMaxBatch = 64;

  explicit GroupCommit(BatchStore& store, std::size_t max_batch = kDefaultMaxBatch);
  ~GroupCommit();  // stop()
  GroupCommit(const GroupCommit&) = delete;
  GroupCommit& operator=(const GroupCommit&) = delete;

  // Runs f() (which returns a Result or Status) on the writer thread inside a batch
  // and resumes the caller on its own executor once the batch is committed.
  // f and what it refers to must stay alive until then (a coroutine's locals do).
  template <class F>
  boost::asio::awaitable<std::invoke_result_t<F&>> run(F f) {
    using R = std::invoke_result_t<F&>;
    std::optional<R> out;
    co_await boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&, void()>(
        [this, &out, &f](auto handler) {
          submit(std::make_unique<TypedJob<R, F, decltype(handler)>>(out, f, std::move(handler)));
        },
        boost::asio::use_awaitable);
    co_return std::move(*out);
  }

  // Runs the jobs already queued and ends the writer thread. Call it after the event
  // loops have stopped and before the coroutines waiting on it are destroyed: jobs
  // refer to their callers' locals. Jobs submitted later run on the caller's thread.
  void stop();

  // Batches committed and jobs run so far (for tests and diagnostics).
  std::size_t batches() const;
  std::size_t jobs() const;

 private:
  struct Job {
    virtual ~Job() = default;
    virtual void run() = 0;                  // on the writer thread, inside the batch
    virtual void lost(const Error& why) = 0;  // its writes were not committed
    virtual void complete() = 0;             // hands the result to the caller
  };

  template <class R, class F, class Handler>
  struct TypedJob final : Job {
    TypedJob(std::optional<R>& out, F& f, Handler h)
        : out_(out),
          f_(f),
          work_(boost::asio::prefer(boost::asio::get_associated_executor(h),
                                    boost::asio::execution::outstanding_work.tracked)),
          handler_(std::move(h)) {}
    void run() override {
      try {
        out_.emplace(f_());
      } catch (const std::exception& e) {
        out_.emplace(make_error("store.io", std::string("store job failed: ") + e.what()));
      }
    }
    void lost(const Error& why) override { out_.emplace(why); }
    void complete() override {
      // Resume on the caller's executor, never on the writer thread.
      boost::asio::post(work_, std::move(handler_));
    }

    std::optional<R>& out_;
    F& f_;
    // Keeps the caller's event loop running while the job waits.
    std::decay_t<decltype(boost::asio::prefer(
        boost::asio::get_associated_executor(std::declval<Handler&>()),
        boost::asio::execution::outstanding_work.tracked))>
        work_;
    Handler handler_;
  };

  void submit(std::unique_ptr<Job> job);
  void loop();
  void run_batch(std::deque<std::unique_ptr<Job>>& batch);

  BatchStore& store_;
  const std::size_t max_batch_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::deque<std::unique_ptr<Job>> queue_;
  bool stopping_ = false;
  bool stopped_ = false;
  std::size_t batches_ = 0;
  std::size_t jobs_ = 0;
  std::thread writer_;
};

}  // namespace gatehouse::store
