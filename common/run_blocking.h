#pragma once
// Runs a blocking function (password hashing, SQLite writes, blocking directory calls)
// on a thread pool and resumes the calling coroutine on its own executor afterwards.
// Boost.Asio's awaitable.hpp uses std::exchange without including <utility>.
#include <optional>
#include <type_traits>
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace gatehouse {

template <class F>
boost::asio::awaitable<std::invoke_result_t<F>> run_blocking(boost::asio::thread_pool& pool, F f) {
  using R = std::invoke_result_t<F>;
  std::optional<R> out;
  co_await boost::asio::co_spawn(
      pool,
      [&out, &f]() -> boost::asio::awaitable<void> {
        out.emplace(f());
        co_return;
      },
      boost::asio::use_awaitable);
  co_return std::move(*out);
}

}  // namespace gatehouse
