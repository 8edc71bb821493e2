// Group commit: SqliteStore::run_batch (one transaction, nested ones as savepoints) and
// GroupCommit (coroutines' store work batched on one writer thread).
#include "store/group_commit.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include "store/sqlite_store.h"
#include "unit/store/temp_dir.h"

namespace gatehouse::store {
namespace {

namespace asio = boost::asio;

class RunBatchTest : public ::testing::Test {
 protected:
  RunBatchTest() {
    auto opened = SqliteStore::open(dir_.file("gatehouse.db"));
    if (!opened) throw std::runtime_error(opened.error().message);
    db_ = std::move(opened).value();
    EXPECT_TRUE(db_->add_tenant({"example", 0, "", ""}).ok());
  }

  static User user(std::string name, std::string tenant = "example") {
    User u;
    u.name = std::move(name);
    u.tenant = std::move(tenant);
    u.groups = {"developers"};
    return u;
  }

  bool has_user(const std::string& name) {
    auto found = db_->find_user(name);
    EXPECT_TRUE(found.ok());
    return found.ok() && found->has_value();
  }

  test_support::TempDir dir_;
  std::unique_ptr<SqliteStore> db_;
};

TEST_F(RunBatchTest, EveryJobRunsInOrderAndIsCommitted) {
  std::vector<int> order;
  std::vector<Status> results(3, Status(Ok{}));
  std::vector<std::function<void()>> jobs;
  for (int i = 0; i < 3; ++i)
    jobs.emplace_back([&, i] {
      order.push_back(i);
      results[i] = db_->add_user(user("user" + std::to_string(i)));
    });
  auto outcome = db_->run_batch(jobs);
  ASSERT_EQ(outcome.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(outcome[i].ok());
    EXPECT_TRUE(results[i].ok()) << results[i].error().message;
    EXPECT_TRUE(has_user("user" + std::to_string(i)));
  }
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
}

TEST_F(RunBatchTest, AFailingJobUndoesOnlyItsOwnWrites) {
  // add_user writes the user and its groups in one transaction, here a savepoint: a
  // user of an unknown tenant fails on the foreign key and leaves nothing behind, and
  // the jobs before and after it are committed.
  Status bad = Ok{};
  std::vector<std::function<void()>> jobs{
      [&] { EXPECT_TRUE(db_->add_user(user("before")).ok()); },
      [&] { bad = db_->add_user(user("orphan", "no-such-tenant")); },
      [&] { EXPECT_TRUE(db_->add_user(user("after")).ok()); },
  };
  auto outcome = db_->run_batch(jobs);
  EXPECT_FALSE(bad.ok());
  for (const auto& o : outcome) EXPECT_TRUE(o.ok());
  EXPECT_TRUE(has_user("before"));
  EXPECT_FALSE(has_user("orphan"));
  EXPECT_TRUE(has_user("after"));
}

TEST_F(RunBatchTest, AnotherConnectionSeesNothingUntilTheBatchCommits) {
  auto other = SqliteStore::open(dir_.file("gatehouse.db"));
  ASSERT_TRUE(other.ok());
  std::optional<bool> seen_inside;
  std::vector<std::function<void()>> jobs{[&] {
    EXPECT_TRUE(db_->add_user(user("pending")).ok());
    auto found = (*other)->find_user("pending");  // a read: does not wait for the write lock
    seen_inside = found.ok() && found->has_value();
  }};
  db_->run_batch(jobs);
  ASSERT_TRUE(seen_inside.has_value());
  EXPECT_FALSE(*seen_inside);
  auto found = (*other)->find_user("pending");
  ASSERT_TRUE(found.ok());
  EXPECT_TRUE(found->has_value());
}

TEST_F(RunBatchTest, WhenTheTransactionCannotBeginNoJobRunsAndEachGetsTheError) {
  // Another connection holds the write lock (a batch of its own, parked in its job)
  // past the busy timeout.
  auto other = SqliteStore::open(dir_.file("gatehouse.db"));
  ASSERT_TRUE(other.ok());
  std::mutex mu;
  std::condition_variable cv;
  bool holding = false, release = false;
  std::thread holder([&] {
    std::vector<std::function<void()>> jobs{[&] {
      EXPECT_TRUE((*other)->add_user(user("holder")).ok());
      std::unique_lock lock(mu);
      holding = true;
      cv.notify_all();
      cv.wait(lock, [&] { return release; });
    }};
    (*other)->run_batch(jobs);
  });
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return holding; });
  }
  int ran = 0;
  std::vector<std::function<void()>> jobs{[&] { ++ran; (void)db_->add_user(user("first")); },
                                          [&] { ++ran; (void)db_->add_user(user("second")); }};
  auto outcome = db_->run_batch(jobs);
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  holder.join();
  EXPECT_EQ(ran, 0);
  ASSERT_EQ(outcome.size(), 2u);
  for (const auto& o : outcome) {
    ASSERT_FALSE(o.ok());
    EXPECT_NE(o.error().message.find("locked"), std::string::npos) << o.error().message;
  }
  EXPECT_FALSE(has_user("first"));
  EXPECT_TRUE(has_user("holder"));
  // The lock is gone: the next batch works.
  std::vector<std::function<void()>> later{[&] { EXPECT_TRUE(db_->add_user(user("third")).ok()); }};
  auto ok = db_->run_batch(later);
  ASSERT_EQ(ok.size(), 1u);
  EXPECT_TRUE(ok[0].ok());
  EXPECT_TRUE(has_user("third"));
}

TEST_F(RunBatchTest, AnEmptyBatchIsFine) {
  EXPECT_TRUE(db_->run_batch({}).empty());
  EXPECT_TRUE(db_->add_user(user("later")).ok());
}

// A BatchStore that records batch sizes, can hold the writer inside a batch, and can
// report chosen jobs as lost.
class FakeBatchStore final : public BatchStore {
 public:
  std::vector<Status> run_batch(std::span<const std::function<void()>> jobs) override {
    {
      std::unique_lock lock(mu);
      sizes.push_back(jobs.size());
      entered = true;
      changed.notify_all();
      changed.wait(lock, [&] { return !hold; });
    }
    std::vector<Status> out;
    for (const auto& job : jobs) {
      job();
      out.push_back(lose_next ? Status(make_error("store.io", "disk full")) : Status(Ok{}));
    }
    return out;
  }

  void release() {
    std::lock_guard lock(mu);
    hold = false;
    changed.notify_all();
  }
  void wait_entered() {
    std::unique_lock lock(mu);
    changed.wait(lock, [&] { return entered; });
  }

  std::mutex mu;
  std::condition_variable changed;
  bool hold = false;
  bool entered = false;
  std::atomic<bool> lose_next{false};
  std::vector<std::size_t> sizes;
};

TEST(GroupCommitTest, JobsQueuedWhileABatchRunsShareTheNextOne) {
  FakeBatchStore store;
  store.hold = true;
  GroupCommit writer(store);
  asio::io_context io;
  const auto io_thread = std::this_thread::get_id();
  std::atomic<int> done{0};
  std::atomic<int> on_wrong_thread{0};
  std::atomic<int> ran_on_io_thread{0};
  constexpr int kJobs = 20;
  auto spawn = [&](int i) {
    asio::co_spawn(
        io,
        [&, i]() -> asio::awaitable<void> {
          auto r = co_await writer.run([&, i]() -> Result<int> {
            if (std::this_thread::get_id() == io_thread) ++ran_on_io_thread;
            return i * 2;
          });
          // Resumed on the caller's event loop, with the job's own answer.
          if (std::this_thread::get_id() != io_thread) ++on_wrong_thread;
          EXPECT_TRUE(r.ok());
          if (r.ok()) {
            EXPECT_EQ(*r, i * 2);
          }
          ++done;
        },
        asio::detached);
  };
  spawn(0);
  io.poll();
  store.wait_entered();  // the first job is inside a batch, which is held
  for (int i = 1; i < kJobs; ++i) spawn(i);
  io.poll();  // the others submit and queue behind it
  store.release();
  io.run();  // returns only when every job has resumed its coroutine
  EXPECT_EQ(done, kJobs);
  EXPECT_EQ(on_wrong_thread, 0);
  EXPECT_EQ(ran_on_io_thread, 0);
  ASSERT_GE(store.sizes.size(), 2u);
  EXPECT_EQ(store.sizes[0], 1u);
  EXPECT_EQ(store.sizes[1], static_cast<std::size_t>(kJobs - 1));
  EXPECT_EQ(writer.jobs(), static_cast<std::size_t>(kJobs));
  EXPECT_EQ(writer.batches(), store.sizes.size());
}

TEST(GroupCommitTest, ABatchIsCappedAtItsLimit) {
  FakeBatchStore store;
  store.hold = true;
  GroupCommit writer(store, 4);
  asio::io_context io;
  for (int i = 0; i < 10; ++i)
    asio::co_spawn(io, [&]() -> asio::awaitable<void> { co_await writer.run([]() -> Status { return Ok{}; }); },
                   asio::detached);
  std::thread releaser([&] {
    store.wait_entered();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    store.release();
  });
  io.run();
  releaser.join();
  for (auto size : store.sizes) EXPECT_LE(size, 4u);
  EXPECT_EQ(writer.jobs(), 10u);
}

TEST(GroupCommitTest, AJobWhoseWritesWereLostGetsTheStoreError) {
  FakeBatchStore store;
  store.lose_next = true;
  GroupCommit writer(store);
  asio::io_context io;
  std::optional<Result<int>> out;
  asio::co_spawn(
      io, [&]() -> asio::awaitable<void> { out.emplace(co_await writer.run([]() -> Result<int> { return 7; })); },
      asio::detached);
  io.run();
  ASSERT_TRUE(out.has_value());
  ASSERT_FALSE(out->ok());
  EXPECT_EQ(out->error().message, "disk full");
}

TEST(GroupCommitTest, AThrowingJobBecomesAnError) {
  FakeBatchStore store;
  GroupCommit writer(store);
  asio::io_context io;
  std::optional<Status> out;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        out.emplace(co_await writer.run([]() -> Status { throw std::runtime_error("boom"); }));
      },
      asio::detached);
  io.run();
  ASSERT_TRUE(out.has_value());
  ASSERT_FALSE(out->ok());
  EXPECT_NE(out->error().message.find("boom"), std::string::npos);
}

TEST(GroupCommitTest, StopRunsWhatIsQueuedAndLaterJobsRunInline) {
  FakeBatchStore store;
  store.hold = true;
  GroupCommit writer(store);
  asio::io_context io;
  std::atomic<int> ran{0};
  for (int i = 0; i < 5; ++i)
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
      co_await writer.run([&]() -> Status {
        ++ran;
        return Ok{};
      });
    }, asio::detached);
  // Start the coroutines (they submit and suspend), but do not resume them yet.
  io.poll();
  std::thread releaser([&] {
    store.wait_entered();
    store.release();
  });
  writer.stop();  // drains: every queued job runs before the writer ends
  releaser.join();
  EXPECT_EQ(ran, 5);
  io.run();  // the completions were posted to the loop

  std::optional<Status> late;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    late.emplace(co_await writer.run([&]() -> Status {
      ++ran;
      return Ok{};
    }));
  }, asio::detached);
  io.restart();
  io.run();
  ASSERT_TRUE(late.has_value());
  EXPECT_TRUE(late->ok());
  EXPECT_EQ(ran, 6);
}

TEST(GroupCommitTest, RealStoreManyCoroutinesAllCommitted) {
  test_support::TempDir dir;
  auto opened = SqliteStore::open(dir.file("gatehouse.db"));
  ASSERT_TRUE(opened.ok());
  auto& db = **opened;
  ASSERT_TRUE(db.add_tenant({"example", 0, "", ""}).ok());
  GroupCommit writer(db);
  asio::io_context io;
  constexpr int kUsers = 40;
  std::atomic<int> ok{0};
  for (int i = 0; i < kUsers; ++i)
    asio::co_spawn(io, [&, i]() -> asio::awaitable<void> {
      User u;
      u.name = "user" + std::to_string(i);
      u.tenant = "example";
      auto st = co_await writer.run([&] { return db.add_user(u); });
      if (st.ok()) ++ok;
    }, asio::detached);
  io.run();
  EXPECT_EQ(ok, kUsers);
  auto users = db.list_users();
  ASSERT_TRUE(users.ok());
  EXPECT_EQ(users->size(), static_cast<std::size_t>(kUsers));
  EXPECT_LE(writer.batches(), writer.jobs());
}

}  // namespace
}  // namespace gatehouse::store
