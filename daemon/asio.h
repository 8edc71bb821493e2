#pragma once
// Boost.Asio's awaitable.hpp uses std::exchange without including <utility>.
#include <optional>
#include <utility>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace gatehouse::daemon {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

inline auto awaitable_ec(error_code& ec) { return asio::redirect_error(asio::use_awaitable, ec); }

// Runs a blocking function (password hashing, directory binds) on `pool` and resumes
// the calling coroutine on its own executor afterwards.
template <class F>
asio::awaitable<std::invoke_result_t<F>> run_blocking(asio::thread_pool& pool, F f) {
  using R = std::invoke_result_t<F>;
  std::optional<R> out;
  co_await asio::co_spawn(
      pool,
      [&out, &f]() -> asio::awaitable<void> {
        out.emplace(f());
        co_return;
      },
      asio::use_awaitable);
  co_return std::move(*out);
}

}  // namespace gatehouse::daemon
