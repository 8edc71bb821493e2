#include "daemon/server.h"

#include <systemd/sd-daemon.h>

#include <csignal>
#include <optional>
#include <thread>

#include "auth/assertion.h"
#include "auth/assertion_issuer.h"
#include "auth/csrf.h"
#include "auth/keys.h"
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
#include "store/sqlite_store.h"

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

// Housekeeping once a minute, on the blocking pool: expired sessions and assertion
// ids, failures that left the lockout window and locks that ended, audit records past
// the retention (deleted in small batches, so logins never wait long behind it).
asio::awaitable<void> sweep_loop(asio::thread_pool& blocking, auth::SessionManager& sessions,
                                 auth::AssertionIssuer& assertions, auth::Lockout& lockout, auth::Audit& audit) {
  auto ex = co_await asio::this_coro::executor;
  asio::steady_timer timer(ex);
  for (;;) {
    timer.expires_after(std::chrono::seconds(60));
    error_code ec;
    co_await timer.async_wait(awaitable_ec(ec));
    if (ec) co_return;
    co_await run_blocking(blocking, [&] {
      if (auto n = sessions.sweep(); !n) log::warning("session.sweep_failed", {{"error", n.error().message}});
      assertions.sweep();
      if (auto n = lockout.prune(); !n) log::warning("lockout.prune_failed", {{"error", n.error().message}});
      if (auto n = audit.prune(); !n) log::warning("audit.prune_failed", {{"error", n.error().message}});
      return 0;
    });
  }
}

std::string endpoint_string(const tcp::endpoint& ep) {
  auto a = ep.address();
  return a.is_v6() ? "[" + a.to_string() + "]:" + std::to_string(ep.port())
                   : a.to_string() + ":" + std::to_string(ep.port());
}

}  // namespace

int serve(std::shared_ptr<const config::Config> config, const ServeHooks& hooks) {
  if (sodium_init() < 0) {
    log::error("startup.failed", {{"error", "libsodium failed to initialise"}});
    return 1;
  }
  auto fail = [](const Error& e) {
    log::error("startup.failed", {{"code", e.code}, {"error", e.message}});
    return 1;
  };
  auto opened = store::SqliteStore::open(config->store.path);
  if (!opened) return fail(opened.error());
  std::shared_ptr<store::SqliteStore> db = std::move(opened.value());

  auto master = auth::MasterKey::load_or_create(config->keys.master_key_file);
  if (!master) return fail(master.error());
  auto signer = auth::AssertionSigner::load_or_create(*db, *master);
  if (!signer) return fail(signer.error());

  std::vector<std::shared_ptr<directory::Directory>> directories;
  for (const auto& d : config->directories) {
    switch (d.kind) {
      case config::DirectoryKind::local:
        directories.push_back(std::make_shared<directory::LocalDirectory>(d.name, *db));
        break;
      case config::DirectoryKind::ldap:
      case config::DirectoryKind::active_directory: {
        auto made = directory::LdapDirectory::create(d);
        if (!made) return fail(made.error());
        directories.push_back(std::move(made).value());
        break;
      }
    }
  }

  SystemClock clock;
  auth::SessionManager sessions(*db, clock,
                                auth::SessionCodec(master->derive(auth::KeyPurpose::session_cookie)),
                                config->session);
  auth::Lockout lockout(config->lockout, *db, clock);
  auth::Audit audit(config->audit, *db, clock);
  sessions.on_expired([&audit](const store::SessionRecord& r, std::string_view why) {
    (void)audit.record(auth::AuditEvent{auth::AuditEventType::session_expired, r.user, std::nullopt, r.source, "",
                                        std::string(why)});
  });
  // OpenID providers: discovery and keys are fetched when first needed, so a provider
  // that is down at start-up does not keep gatehouse from serving.
  std::vector<std::shared_ptr<oidc::Provider>> providers;
  for (const auto& o : config->oidc) {
    auto secret = read_secret_file(o.client_secret_file);
    if (!secret)
      return fail(make_error("oidc.config", "provider \"" + o.name + "\": client_secret_file " +
                                                secret.error().message));
    const std::string redirect_uri = config->server.public_url.origin() + "/.gatehouse/oidc/" + o.name + "/callback";
    providers.push_back(std::make_shared<oidc::Provider>(
        o, redirect_uri, std::move(secret).value(),
        std::make_shared<oidc::CurlHttpClient>(oidc::CurlOptions{o.ca_file}), clock));
  }
  auth::OidcLogin oidc_login(providers, sessions, audit, master->derive(auth::KeyPurpose::oidc_flow),
                             master->derive(auth::KeyPurpose::oidc_tokens), clock);

  // Login writes (lockout, session, audit) from the event loops, many to a transaction.
  store::GroupCommit writer(*db);
  auth::LoginService login(directories, sessions, lockout, audit, writer);
  auth::AssertionIssuer assertions(**signer, clock, config->server.public_url.origin(),
                                   config->session.assertion_ttl.count());
  auth::CsrfGuard csrf(master->derive(auth::KeyPurpose::csrf));
  // Blocking work: local password hashing (which limits itself to the cores),
  // readiness checks, housekeeping. LDAP logins wait in the event loops instead.
  asio::thread_pool blocking(std::max(2u, std::thread::hardware_concurrency()));

  const unsigned threads =
      config->server.threads != 0 ? config->server.threads : std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::unique_ptr<Worker>> workers;
  for (unsigned i = 0; i < threads; ++i)
    workers.push_back(std::make_unique<Worker>(config->server.upstream_connect_timeout));
  // Worker 0 also runs the acceptor, signals, the sweeper and the shutdown drain.
  asio::io_context& io = workers[0]->io;

  Metrics metrics(*config, GATEHOUSE_VERSION, clock.now());
  Gateway gateway(GatewayContext{config, sessions, login, oidc_login, assertions, **signer, csrf, blocking, audit,
                                 [db, directories, providers] {
                                   std::vector<NotReady> failing;
                                   if (auto st = db->check_writable(); !st)
                                     failing.push_back({"store", st.error().message});
                                   for (const auto& d : directories)
                                     if (auto st = d->check(); !st)
                                       failing.push_back({"directory:" + d->name(), st.error().message});
                                   for (const auto& p : providers)
                                     if (auto st = p->check(); !st)
                                       failing.push_back({"provider:" + p->name(), st.error().message});
                                   return failing;
                                 },
                                 metrics});

  tcp::acceptor acceptor(io);
  try {
    auto address = asio::ip::make_address(config->server.listen.host);
    tcp::endpoint ep(address, config->server.listen.port);
    acceptor.open(ep.protocol());
    acceptor.set_option(asio::socket_base::reuse_address(true));
    if (address.is_v6()) acceptor.set_option(asio::ip::v6_only(true));
    acceptor.bind(ep);
    acceptor.listen(asio::socket_base::max_listen_connections);
  } catch (const boost::system::system_error& e) {
    return fail(make_error("listen", "cannot listen on " + config->server.listen.host + ":" +
                                         std::to_string(config->server.listen.port) + ": " + e.code().message()));
  }
  const std::string bound = endpoint_string(acceptor.local_endpoint());

  asio::co_spawn(io, accept_loop(acceptor, gateway, workers), asio::detached);
  asio::co_spawn(io, sweep_loop(blocking, sessions, assertions, lockout, audit), asio::detached);

  std::optional<Watchdog> watchdog;  // started once serving
  asio::signal_set signals(io, SIGINT, SIGTERM, SIGHUP);
  std::function<void(const error_code&, int)> on_signal = [&](const error_code& ec, int sig) {
    if (ec) return;
    if (sig == SIGHUP) {
      log::warning("config.reload_unsupported",
                   {{"detail", "reload on SIGHUP is not supported by this build yet; restart to apply"}});
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
    // Let in-flight requests finish, up to the configured deadline.
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
      const auto deadline = std::chrono::steady_clock::now() + config->server.shutdown_timeout;
      asio::steady_timer t(io);
      while (gateway.active_requests() > 0 && std::chrono::steady_clock::now() < deadline) {
        t.expires_after(std::chrono::milliseconds(20));
        error_code ec2;
        co_await t.async_wait(awaitable_ec(ec2));
      }
      for (auto& w : workers) w->io.stop();
    }, asio::detached);
  };
  signals.async_wait(on_signal);

  log::info("listening", {{"address", bound}, {"public_url", config->server.public_url.origin()},
                          {"routes", std::to_string(config->routes.size())}});
  if (hooks.on_listening) hooks.on_listening(bound);
  sd_notifyf(0, "READY=1\nSTATUS=serving on %s, %zu route(s), %zu directory(ies)", bound.c_str(),
             config->routes.size(), config->directories.size());

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
  watchdog.reset();  // before the loops it asks go away
  for (auto& t : worker_threads) t.join();
  // Before the workers (and the coroutines waiting on the writer) are destroyed.
  writer.stop();
  log::info("store.group_commit", {{"batches", std::to_string(writer.batches())},
                                   {"jobs", std::to_string(writer.jobs())}});
  blocking.join();
  for (const auto& d : directories) d->shutdown();
  log::info("shutdown.complete");
  return 0;
}

}  // namespace gatehouse::daemon
