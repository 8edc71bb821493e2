#include "daemon/server.h"

#include <sodium.h>
#include <systemd/sd-daemon.h>

#include <sys/socket.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>
#include <optional>
#include <thread>

#include "auth/assertion.h"
#include "auth/assertion_issuer.h"
#include "auth/csrf.h"
#include "crypto/keys.h"
#include "auth/login.h"
#include "auth/oidc_login.h"
#include "auth/session_manager.h"
#include "common/log.h"
#include "common/secret_file.h"
#include "daemon/asio.h"
#include "daemon/gateway.h"
#include "daemon/metrics.h"
#include "daemon/upstream_pool.h"
#include "daemon/watchdog.h"
#include "directory/ldap_directory.h"
#include "directory/local_directory.h"
#include "store/database.h"

namespace gatehouse::daemon {
namespace {

// One worker per thread, each with its own io_context and upstream pool: a connection
// lives on one worker, so its streams and timers never cross threads and need no
// strand, and pooled upstream sockets stay with the io_context that owns them.
struct Worker {
  explicit Worker(std::chrono::seconds connect_timeout) : io(1), upstreams(connect_timeout) {}
  asio::io_context io;
  UpstreamPool upstreams;  // after io: pooled sockets close before their io_context goes
};

asio::awaitable<void> accept_loop(tcp::acceptor& acceptor, Gateway& gateway,
                                  std::vector<std::unique_ptr<Worker>>& workers) {
  std::size_t next = 0;
  for (;;) {
    error_code ec;
    Worker& w = *workers[next++ % workers.size()];
    tcp::socket socket = co_await acceptor.async_accept(w.io, awaitable_ec(ec));
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
    if (ec) {
      // Out of file descriptors and the like: back off instead of spinning.
      log::warning("http.accept_failed", {{"error", ec.message()}});
      asio::steady_timer t(acceptor.get_executor(), std::chrono::milliseconds(100));
      co_await t.async_wait(awaitable_ec(ec));
      continue;
    }
    asio::co_spawn(w.io, gateway.serve(std::move(socket), w.upstreams), asio::detached);
  }
}

// Housekeeping once a minute, on the blocking pool, with the configuration in use:
// expired sessions and assertion ids, failures that left the lockout window and locks
// that ended, audit records past the retention (deleted in small batches, so logins
// never wait long behind it).
asio::awaitable<void> sweep_loop(asio::thread_pool& blocking, Gateway& gateway) {
  auto ex = co_await asio::this_coro::executor;
  asio::steady_timer timer(ex);
  for (;;) {
    timer.expires_after(std::chrono::seconds(60));
    error_code ec;
    co_await timer.async_wait(awaitable_ec(ec));
    if (ec) co_return;
    auto rt = gateway.runtime();
    co_await run_blocking(blocking, [&] {
      if (auto n = rt->sessions->sweep(); !n) log::warning("session.sweep_failed", {{"error", n.error().message}});
      rt->assertions->sweep();
      if (auto n = rt->lockout->prune(); !n) log::warning("lockout.prune_failed", {{"error", n.error().message}});
      if (auto n = rt->audit->prune(); !n) log::warning("audit.prune_failed", {{"error", n.error().message}});
      return 0;
    });
  }
}

// Tenancy, once a second: delegations that ended are audited and whoever still acts
// through an ended or revoked one is switched out (the superusers e-mailed), also when
// the user sends no request; every fifth second the usage counts go to the store.
asio::awaitable<void> tenancy_loop(asio::thread_pool& blocking, Gateway& gateway) {
  auto ex = co_await asio::this_coro::executor;
  asio::steady_timer timer(ex);
  for (unsigned tick = 1;; ++tick) {
    timer.expires_after(std::chrono::seconds(1));
    error_code ec;
    co_await timer.async_wait(awaitable_ec(ec));
    if (ec) co_return;
    auto rt = gateway.runtime();
    co_await run_blocking(blocking, [&] {
      if (auto n = rt->tenancy->sweep(); !n) log::warning("tenancy.sweep_failed", {{"error", n.error().message}});
      // A secret changed by the CLI or another instance is used from the next second on.
      if (auto st = rt->vault.refresh(); !st) log::warning("vault.refresh_failed", {{"error", st.error().message}});
      if (tick % 5 == 0)
        if (auto st = rt->usage.flush(); !st) log::warning("usage.flush_failed", {{"error", st.error().message}});
      return 0;
    });
  }
}

std::string endpoint_string(const tcp::endpoint& ep) {
  auto a = ep.address();
  return a.is_v6() ? "[" + a.to_string() + "]:" + std::to_string(ep.port())
                   : a.to_string() + ":" + std::to_string(ep.port());
}

// The listening socket: the one systemd passed (socket activation, gatehouse.socket:
// the socket unit's ListenStream= decides the address, and connections made while
// gatehouse starts or restarts wait in its backlog), else [server] listen bound here.
Status open_listener(tcp::acceptor& acceptor, const config::ListenAddress& listen, int passed_fds) {
  if (passed_fds < 0)
    return make_error("listen", std::string("cannot read the sockets passed by systemd: ") + std::strerror(-passed_fds));
  if (passed_fds > 1)
    return make_error("listen", "systemd passed " + std::to_string(passed_fds) +
                                    " sockets; gatehouse listens on one (one ListenStream= in gatehouse.socket)");
  if (passed_fds == 1) {
    const int fd = SD_LISTEN_FDS_START;
    if (sd_is_socket_inet(fd, AF_UNSPEC, SOCK_STREAM, 1, 0) <= 0)
      return make_error("listen", "the socket passed by systemd is not a listening TCP socket "
                                  "(gatehouse.socket needs ListenStream= with an IP address and port)");
    sockaddr_storage local{};
    socklen_t len = sizeof local;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) != 0)
      return make_error("listen", std::string("the socket passed by systemd: ") + std::strerror(errno));
    error_code ec;
    acceptor.assign(local.ss_family == AF_INET6 ? tcp::v6() : tcp::v4(), fd, ec);
    if (ec) return make_error("listen", "the socket passed by systemd: " + ec.message());
    log::info("listen.socket_activation",
              {{"address", endpoint_string(acceptor.local_endpoint(ec))},
               {"configured", listen.host + ":" + std::to_string(listen.port)}});
    return Ok{};
  }
  try {
    auto address = asio::ip::make_address(listen.host);
    tcp::endpoint ep(address, listen.port);
    acceptor.open(ep.protocol());
    acceptor.set_option(asio::socket_base::reuse_address(true));
    if (address.is_v6()) acceptor.set_option(asio::ip::v6_only(true));
    acceptor.bind(ep);
    acceptor.listen(asio::socket_base::max_listen_connections);
  } catch (const boost::system::system_error& e) {
    return make_error("listen", "cannot listen on " + listen.host + ":" + std::to_string(listen.port) + ": " +
                                    e.code().message());
  }
  return Ok{};
}

std::string clock_time(std::int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

// systemd's STATUS= line: what is being served, and since when.
std::string status_line(const std::string& bound, const config::Config& c, std::int64_t loaded_at) {
  return "serving on " + bound + ", " + std::to_string(c.routes.size()) + " route(s), " +
         std::to_string(c.directories.size()) + " directory(ies), " + std::to_string(c.oidc.size()) +
         " provider(s); configuration loaded " + clock_time(loaded_at);
}

std::uint64_t monotonic_usec() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000u + static_cast<std::uint64_t>(ts.tv_nsec) / 1000u;
}

// Reload on SIGHUP: re-reads the file the running configuration came from, and swaps
// in what it makes only when all of it is valid. One reload at a time; a SIGHUP during
// one runs another after it (the file may have changed again).
class Reloader {
 public:
  Reloader(asio::io_context& io, asio::thread_pool& blocking, Gateway& gateway, const Foundation& base,
           std::string bound, std::int64_t started_at)
      : io_(io), blocking_(blocking), gateway_(gateway), base_(base), bound_(std::move(bound)),
        loaded_at_(started_at) {}

  std::string status() const { return status_line(bound_, *gateway_.runtime()->config, loaded_at_); }

  // On the io_context's thread (the signal handler).
  void request() {
    if (running_) {
      again_ = true;
      return;
    }
    running_ = true;
    asio::co_spawn(io_, run(), asio::detached);
  }

  // At shutdown, after the event loops stopped: directories of configurations still
  // draining stop opening connections (their loops are about to go).
  void shutdown() {
    for (const auto& rt : retired_)
      for (const auto& d : rt->directories) d->shutdown();
    retired_.clear();
  }

 private:
  struct Outcome {
    std::shared_ptr<Runtime> runtime;
    std::shared_ptr<const crypto::Keyring> keyring;
    std::vector<std::string> errors;
  };

  asio::awaitable<void> run() {
    do {
      again_ = false;
      co_await reload_once();
    } while (again_);
    running_ = false;
  }

  asio::awaitable<void> reload_once() {
    auto current = gateway_.runtime();
    const std::string file = current->config->file;
    sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading %s",
               static_cast<unsigned long long>(monotonic_usec()), file.c_str());
    log::info("config.reload_begin", {{"file", file}});
    Outcome out = co_await run_blocking(blocking_, [&] {
      Outcome o;
      auto loaded = config::load_config(file);
      for (const auto& e : loaded.errors) o.errors.push_back(e.to_string());
      if (!o.errors.empty()) return o;
      o.errors = restart_only_changes(*current->config, *loaded.config);
      if (!o.errors.empty()) return o;
      // Key files are read again: a master key change needs no restart.
      auto ring = crypto::load_keyring(loaded.config->keys.master_key_file,
                                       loaded.config->keys.previous_master_key_files);
      if (!ring) {
        o.errors.push_back(file + ": [keys] " + ring.error().message);
        return o;
      }
      if (auto opens = vault::check_keyring(*base_.db, *base_.db, *ring); !opens) {
        o.errors.push_back(file + ": [keys] these key files cannot open what the store holds (" +
                           opens.error().message + "); keep the old key in previous_master_key_files until "
                           "`gatehouse keys rewrap` has run");
        return o;
      }
      o.keyring = std::make_shared<crypto::Keyring>(std::move(ring.value()));
      auto built = Runtime::build(loaded.config, base_, current.get());
      if (!built) o.errors.push_back(built.error().message);
      else o.runtime = std::move(built).value();
      return o;
    });
    const std::int64_t now = base_.clock.now();
    if (!out.errors.empty()) {
      for (const auto& e : out.errors) log::error("config.reload_failed", {{"file", file}, {"error", e}});
      current->metrics.count_reload(false, now);
      co_await run_blocking(blocking_, [&] {
        return current->audit->record(auth::AuditEvent{auth::AuditEventType::config_reload_failed, "", std::nullopt,
                                                       "", "", "old configuration kept: " + out.errors.front()});
      });
      std::string first = out.errors.front();
      for (char& ch : first)
        if (ch == '\n' || ch == '\r') ch = ' ';
      const std::string more =
          out.errors.size() > 1 ? " (and " + std::to_string(out.errors.size() - 1) + " more, see the log)" : "";
      sd_notifyf(0, "READY=1\nSTATUS=reload failed: %s%s; still %s", first.c_str(), more.c_str(),
                 status().c_str());
      co_return;
    }
    log::set_format(out.runtime->config->log.format);
    log::set_min_level(out.runtime->config->log.level);
    base_.vault.set_keyring(out.keyring);
    auto old = gateway_.install(out.runtime);
    co_await run_blocking(blocking_, [&] {
      base_.notifications.configure(*out.runtime->config);
      return 0;
    });
    loaded_at_ = now;
    const auto& c = *out.runtime->config;
    out.runtime->metrics.count_reload(true, now);
    log::info("config.reloaded", {{"file", file},
                                  {"routes", std::to_string(c.routes.size())},
                                  {"directories", std::to_string(c.directories.size())},
                                  {"providers", std::to_string(c.oidc.size())}});
    co_await run_blocking(blocking_, [&] {
      return out.runtime->audit->record(
          auth::AuditEvent{auth::AuditEventType::config_reloaded, "", std::nullopt, "", "", "applied"});
    });
    sd_notifyf(0, "READY=1\nSTATUS=%s", status().c_str());
    retire(std::move(old));
  }

  // The replaced configuration goes once the requests that started with it are done;
  // it is released on the blocking pool (closing its directory connections may block).
  void retire(std::shared_ptr<const Runtime> old) {
    retired_.push_back(std::move(old));
    if (reaping_) return;
    reaping_ = true;
    asio::co_spawn(io_, [this]() -> asio::awaitable<void> {
      asio::steady_timer t(io_);
      while (!retired_.empty()) {
        t.expires_after(std::chrono::milliseconds(200));
        error_code ec;
        co_await t.async_wait(awaitable_ec(ec));
        if (ec) break;
        std::vector<std::shared_ptr<const Runtime>> done;
        std::erase_if(retired_, [&](auto& rt) {
          if (rt.use_count() > 1) return false;
          done.push_back(std::move(rt));
          return true;
        });
        if (!done.empty()) co_await run_blocking(blocking_, [&done] {
          done.clear();
          return 0;
        });
      }
      reaping_ = false;
    }, asio::detached);
  }

  asio::io_context& io_;
  asio::thread_pool& blocking_;
  Gateway& gateway_;
  const Foundation& base_;
  const std::string bound_;
  std::int64_t loaded_at_;
  bool running_ = false;
  bool again_ = false;
  bool reaping_ = false;
  std::vector<std::shared_ptr<const Runtime>> retired_;
};

}  // namespace

int serve(std::shared_ptr<const config::Config> config, const ServeHooks& hooks) {
  // Sockets from systemd (gatehouse.socket): taken before anything else opens files;
  // sd_listen_fds also removes LISTEN_FDS and LISTEN_PID so children do not inherit them.
  const int passed_fds = sd_listen_fds(1);
  if (sodium_init() < 0) {
    log::error("startup.failed", {{"error", "libsodium failed to initialise"}});
    return 1;
  }
  auto fail = [](const Error& e) {
    log::error("startup.failed", {{"code", e.code}, {"error", e.message}});
    return 1;
  };
  auto opened = store::open_database(config->store);
  if (!opened) return fail(opened.error());
  std::shared_ptr<store::Database> db = std::move(opened.value());

  auto ring = crypto::load_keyring(config->keys.master_key_file, config->keys.previous_master_key_files);
  if (!ring) return fail(ring.error());
  std::shared_ptr<const crypto::Keyring> keyring = std::make_shared<crypto::Keyring>(std::move(ring.value()));
  auto system_keys = vault::load_system_keys(*db, *keyring, [] { return auth::AssertionSigner::new_private_jwk(); });
  if (!system_keys) return fail(system_keys.error());
  auto signer = auth::AssertionSigner::from_jwk(system_keys->signing_jwk);
  if (!signer) return fail(signer.error());

  SystemClock clock;
  vault::Vault tenant_vault(*db, *db, keyring, clock);
  const std::int64_t started_at = clock.now();
  // Login writes (lockout, session, audit) from the event loops, many to a transaction.
  store::GroupCommit writer(*db);
  MetricsRegistry metrics(GATEHOUSE_VERSION, started_at);
  tenancy::UsageCounter usage(*db, clock);
  // E-mails from the outbox, on a thread of their own.
  Notifications notifications(*db, *db, clock, metrics);
  notifications.configure(*config);
  const Foundation base{db, *system_keys, tenant_vault, **signer, clock, writer, metrics, usage, notifications};
  auto first = Runtime::build(config, base, nullptr);
  if (!first) return fail(first.error());

  auth::CsrfGuard csrf(system_keys->csrf, clock);
  // Blocking work: local password hashing (which limits itself to the cores),
  // readiness checks, reloads, housekeeping. LDAP logins wait in the event loops instead.
  asio::thread_pool blocking(std::max(2u, std::thread::hardware_concurrency()));
  // Before the workers: coroutines left in their loops at shutdown refer to it until
  // the loops are destroyed.
  Gateway gateway(GatewayContext{**signer, csrf, blocking}, std::move(first).value());

  const unsigned threads =
      config->server.threads != 0 ? config->server.threads : std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::unique_ptr<Worker>> workers;
  for (unsigned i = 0; i < threads; ++i)
    workers.push_back(std::make_unique<Worker>(config->server.upstream_connect_timeout));
  // Worker 0 also runs the acceptor, signals, the sweeper, reloads and the shutdown drain.
  asio::io_context& io = workers[0]->io;

  tcp::acceptor acceptor(io);
  if (auto listening = open_listener(acceptor, config->server.listen, passed_fds); !listening)
    return fail(listening.error());
  const std::string bound = endpoint_string(acceptor.local_endpoint());

  asio::co_spawn(io, accept_loop(acceptor, gateway, workers), asio::detached);
  asio::co_spawn(io, sweep_loop(blocking, gateway), asio::detached);
  asio::co_spawn(io, tenancy_loop(blocking, gateway), asio::detached);
  Reloader reloader(io, blocking, gateway, base, bound, started_at);

  std::optional<Watchdog> watchdog;  // started once serving
  asio::signal_set signals(io, SIGINT, SIGTERM, SIGHUP);
  std::function<void(const error_code&, int)> on_signal = [&](const error_code& ec, int sig) {
    if (ec) return;
    if (sig == SIGHUP) {
      reloader.request();
      signals.async_wait(on_signal);
      return;
    }
    log::info("shutdown.begin", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"},
                                 {"active_requests", std::to_string(gateway.active_requests())}});
    sd_notify(0, "STOPPING=1");
    if (watchdog) watchdog->stop();
    error_code ignored;
    acceptor.close(ignored);
    gateway.begin_shutdown();
    // Let in-flight requests finish, up to the deadline of the configuration in use.
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
      const auto deadline = std::chrono::steady_clock::now() + gateway.runtime()->config->server.shutdown_timeout;
      asio::steady_timer t(io);
      while (gateway.active_requests() > 0 && std::chrono::steady_clock::now() < deadline) {
        t.expires_after(std::chrono::milliseconds(20));
        error_code ec2;
        co_await t.async_wait(awaitable_ec(ec2));
      }
      if (gateway.active_requests() > 0)
        log::warning("shutdown.deadline", {{"active_requests", std::to_string(gateway.active_requests())}});
      for (auto& w : workers) w->io.stop();
    }, asio::detached);
  };
  signals.async_wait(on_signal);

  log::info("listening", {{"address", bound}, {"public_url", config->server.public_url.origin()},
                          {"routes", std::to_string(config->routes.size())}});
  if (hooks.on_listening) hooks.on_listening(bound);
  sd_notifyf(0, "READY=1\nSTATUS=%s", reloader.status().c_str());

  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> keep_running;
  std::vector<std::thread> worker_threads;
  for (unsigned i = 1; i < threads; ++i) {
    keep_running.push_back(asio::make_work_guard(workers[i]->io));
    worker_threads.emplace_back([&w = *workers[i]] { w.io.run(); });
  }
  {
    std::vector<asio::io_context*> loops;
    for (auto& w : workers) loops.push_back(&w->io);
    watchdog.emplace(std::move(loops));
  }
  io.run();
  // Shutting down: another SIGTERM, SIGINT or SIGHUP (a second Ctrl-C, a stop sent twice)
  // must not kill the process while it closes the store. The signal set gives the
  // signals back to their default action, so they are ignored from here to the exit.
  {
    error_code ignored;
    signals.clear(ignored);
    std::signal(SIGTERM, SIG_IGN);
    std::signal(SIGINT, SIG_IGN);
    std::signal(SIGHUP, SIG_IGN);
  }
  watchdog.reset();  // before the loops it asks go away
  for (auto& t : worker_threads) t.join();
  // Before the workers (and the coroutines waiting on the writer) are destroyed.
  writer.stop();
  log::info("store.group_commit", {{"batches", std::to_string(writer.batches())},
                                   {"jobs", std::to_string(writer.jobs())}});
  blocking.join();
  notifications.stop();
  // Every request answered is counted: a graceful stop loses no usage.
  if (auto st = usage.flush(); !st) log::error("usage.flush_failed", {{"error", st.error().message}});
  // Connections being opened must not complete into loops that are about to go.
  reloader.shutdown();
  for (const auto& d : gateway.runtime()->directories) d->shutdown();
  log::info("shutdown.complete");
  return 0;
}

}  // namespace gatehouse::daemon
