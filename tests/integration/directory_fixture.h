#pragma once
// A gatehouse daemon in front of an echo upstream, configured with one [[directory]]
// table: the common part of the LDAP (slapd) and Active Directory (Samba) tests.
#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <string>

#include "integration/harness.h"

namespace gatehouse::testing {

class DirectoryGatewayTest : public ::testing::Test {
 protected:
  // Every daemon must stop cleanly: exit 0, no sanitizer report at exit.
  void TearDown() override {
    if (daemon_) {
      EXPECT_EQ(daemon_->stop(), 0) << daemon_->log();
    }
  }

  void start_with(const std::string& directory_table) {
    {
      std::ofstream out(dir_.file("gatehouse.toml"));
      out << basic_config(dir_, directory_table, upstream_.url());
    }
    daemon_ = std::make_unique<Daemon>(std::vector<std::string>{"serve", "--config", dir_.file("gatehouse.toml")});
    ASSERT_TRUE(daemon_->start()) << daemon_->log();
  }

  httplib::Result login(const std::string& user, const std::string& password) {
    return post_login(daemon_->port(), user, password);
  }

  // Logs in and returns what the application behind gatehouse received.
  std::string upstream_view(const std::string& user, const std::string& password) {
    std::string why;
    auto body = signed_in_fetch(daemon_->port(), user, password, &why);
    EXPECT_NE(body, "") << why << "\n" << daemon_->log();
    return body;
  }

  // 401 with `message` on the form, and no session.
  void expect_refused(const std::string& user, const std::string& password, const std::string& message) {
    auto res = login(user, password);
    ASSERT_TRUE(res) << user;
    EXPECT_EQ(res->status, 401) << "user " << ::testing::PrintToString(user) << "\n" << res->body;
    EXPECT_NE(res->body.find(message), std::string::npos) << user << "\n" << res->body;
    EXPECT_EQ(session_cookie(res), "");
  }
  void expect_generic_failure(const std::string& user, const std::string& password) {
    expect_refused(user, password, "The user name or password is incorrect.");
  }

  TempDir dir_;
  EchoUpstream upstream_;
  std::unique_ptr<Daemon> daemon_;
};

}  // namespace gatehouse::testing
