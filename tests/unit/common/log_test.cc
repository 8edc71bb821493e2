#include "common/log.h"

#include <gtest/gtest.h>

#include <chrono>
#include <ctime>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace gatehouse::log {
namespace {

using nlohmann::ordered_json;
using namespace std::string_literals;

// Captures every line instead of stderr; restores the process-wide defaults after each
// test so the order of tests does not matter.
class LogTest : public testing::Test {
 protected:
  void SetUp() override {
    set_sink([this](std::string_view line) {
      std::lock_guard lock(mu_);
      lines_.emplace_back(line);
    });
  }
  void TearDown() override {
    set_sink({});
    set_format(Format::kv);
    set_min_level(Level::info);
  }
  std::vector<std::string> lines() {
    std::lock_guard lock(mu_);
    return lines_;
  }
  // The only line written so far, parsed; fails the test unless it is one JSON object
  // on one line.
  ordered_json only_json_line() {
    auto all = lines();
    EXPECT_EQ(all.size(), 1u);
    if (all.size() != 1) return {};
    const std::string& line = all[0];
    EXPECT_EQ(line.find('\n'), line.size() - 1) << line;
    auto j = ordered_json::parse(line, nullptr, false);
    EXPECT_TRUE(j.is_object()) << line;
    return j;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> lines_;
};

std::vector<std::string> member_names(const ordered_json& j) {
  std::vector<std::string> out;
  for (const auto& [k, v] : j.items()) out.push_back(k);
  return out;
}

// "2026-11-24T10:00:00.123Z" -> seconds since the epoch; nullopt when not that shape.
std::optional<std::time_t> parse_ts(const std::string& ts) {
  const std::string shape = "dddd-dd-ddTdd:dd:dd.dddZ";  // d: a digit
  if (ts.size() != shape.size()) return std::nullopt;
  for (std::size_t i = 0; i < ts.size(); ++i) {
    bool ok = shape[i] == 'd' ? ts[i] >= '0' && ts[i] <= '9' : ts[i] == shape[i];
    if (!ok) return std::nullopt;
  }
  std::tm tm{};
  if (strptime(ts.c_str(), "%Y-%m-%dT%H:%M:%S", &tm) == nullptr) return std::nullopt;
  return timegm(&tm);
}

// ---------------------------------------------------------------------------------------
// key=value (the default): exactly as before the JSON format existed

TEST_F(LogTest, KvLinesAreUnchangedAndCarryNoTimestamp) {
  info("listening", {{"address", "127.0.0.1:8080"}, {"public_url", "http://x"}, {"routes", "2"}});
  warning("login.failure", {{"user", "a b"}, {"detail", ""}, {"client", "say \"hi\"\n=\\"}});
  error("x y", {{"ctl", std::string_view("\x01\x7f\xc3\xa9", 4)}});
  EXPECT_EQ(lines(), (std::vector<std::string>{
                         "level=info event=listening address=127.0.0.1:8080 public_url=http://x routes=2\n",
                         "level=warning event=login.failure user=\"a b\" detail=\"\" "
                         "client=\"say \\\"hi\\\"\\x0a=\\\\\"\n",
                         "level=error event=\"x y\" ctl=\"\\x01\\x7f\xc3\xa9\"\n",
                     }));
}

TEST_F(LogTest, KvIsTheDefaultFormat) {
  info("started");
  EXPECT_EQ(lines(), std::vector<std::string>{"level=info event=started\n"});
}

TEST(LogStderr, LinesGoToStderrWithoutASink) {
  testing::internal::CaptureStderr();
  info("to.stderr", {{"k", "v"}});
  set_format(Format::json);
  info("to.stderr.json", {{"k", "v"}});
  set_format(Format::kv);
  const std::string err = testing::internal::GetCapturedStderr();
  const std::string first = "level=info event=to.stderr k=v\n";
  ASSERT_EQ(err.substr(0, first.size()), first) << err;
  auto j = ordered_json::parse(err.substr(first.size()), nullptr, false);
  ASSERT_TRUE(j.is_object()) << err;
  EXPECT_EQ(j["event"], "to.stderr.json");
  EXPECT_EQ(j["k"], "v");
}

// ---------------------------------------------------------------------------------------
// JSON

TEST_F(LogTest, JsonLineHasTsLevelEventThenFieldsInOrder) {
  set_format(Format::json);
  // The clock the log reads (CLOCK_REALTIME), not time(), which reads the coarse clock
  // and can still show the previous second when the line already has the next one.
  auto now = [] {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  const auto before = now();
  warning("proxy.timeout", {{"route", "/app"}, {"upstream", "http://127.0.0.1:9000"}, {"after", "60s"}});
  const auto after = now();
  auto j = only_json_line();
  EXPECT_EQ(member_names(j), (std::vector<std::string>{"ts", "level", "event", "route", "upstream", "after"}));
  EXPECT_EQ(j["level"], "warning");
  EXPECT_EQ(j["event"], "proxy.timeout");
  EXPECT_EQ(j["route"], "/app");
  EXPECT_EQ(j["upstream"], "http://127.0.0.1:9000");
  EXPECT_EQ(j["after"], "60s");
  ASSERT_TRUE(j["ts"].is_string());
  auto ts = parse_ts(j["ts"].get<std::string>());
  ASSERT_TRUE(ts) << j["ts"];
  // UTC, not local time: the written second lies within the call.
  EXPECT_GE(*ts, before);
  EXPECT_LE(*ts, after);
}

TEST_F(LogTest, JsonLevelNamesAreWritten) {
  set_format(Format::json);
  set_min_level(Level::debug);
  debug("d");
  info("i");
  warning("w");
  error("e");
  auto all = lines();
  ASSERT_EQ(all.size(), 4u);
  std::vector<std::string> levels;
  for (const auto& line : all) levels.push_back(ordered_json::parse(line)["level"].get<std::string>());
  EXPECT_EQ(levels, (std::vector<std::string>{"debug", "info", "warning", "error"}));
}

struct ValueCase {
  const char* name;
  std::string value;
};

class JsonValues : public LogTest, public testing::WithParamInterface<ValueCase> {};

// Whatever bytes a client sends end up in some field (a user name, a path): the line
// stays one line and the value reads back unchanged.
TEST_P(JsonValues, StayOnOneLineAndParseBackUnchanged) {
  set_format(Format::json);
  const std::string& v = GetParam().value;
  info("login.failure", {{"user", v}, {"client", "192.0.2.1"}});
  auto j = only_json_line();
  EXPECT_EQ(j["user"], v);
  EXPECT_EQ(j["client"], "192.0.2.1");
  EXPECT_EQ(j["event"], "login.failure");
}

INSTANTIATE_TEST_SUITE_P(
    Log, JsonValues,
    testing::Values(ValueCase{"Empty", ""}, ValueCase{"Plain", "alice"},
                    ValueCase{"Newline", "alice\n{\"level\":\"error\",\"event\":\"forged\"}"},
                    ValueCase{"CarriageReturn", "a\rb\r\n"},
                    ValueCase{"Quotes", "say \"hi\" 'there'"},
                    ValueCase{"Backslashes", "CORP\\alice \\\\ \\u0041 \\n"},
                    ValueCase{"ControlCharacters", "\x00\x01\x08\t\x0b\x0c\x1b[31m\x1f\x7f"s},
                    ValueCase{"Utf8", "J\xc3\xbcrgen \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x94\x91"},
                    ValueCase{"LineSeparators", "a\xe2\x80\xa8" "b\xe2\x80\xa9" "c"},
                    ValueCase{"KvLookalike", "x level=error event=forged"},
                    ValueCase{"Long", std::string(100000, 'x')}),
    [](const testing::TestParamInfo<ValueCase>& info) { return info.param.name; });

TEST_F(LogTest, JsonReplacesInvalidUtf8InsteadOfThrowing) {
  set_format(Format::json);
  const std::string replacement = "\xef\xbf\xbd";  // U+FFFD
  ASSERT_NO_THROW(info("bad\xff", {{"user", "a\xff" "b"}, {"k\xc3", "\xc3\x28"}, {"path", "/\xed\xa0\x80"}}));
  auto j = only_json_line();
  EXPECT_EQ(j["event"], "bad" + replacement);
  EXPECT_EQ(j["user"], "a" + replacement + "b");
  EXPECT_EQ(j["k" + replacement], replacement + "(");
  ASSERT_TRUE(j["path"].is_string());
  const std::string path = j["path"].get<std::string>();
  EXPECT_EQ(path.rfind("/" + replacement, 0), 0u) << path;  // a surrogate is not UTF-8
  EXPECT_EQ(path.find('\xed'), std::string::npos) << path;
}

TEST_F(LogTest, JsonEmptyNamesAndNoFields) {
  set_format(Format::json);
  info("");
  auto j = only_json_line();
  EXPECT_EQ(member_names(j), (std::vector<std::string>{"ts", "level", "event"}));
  EXPECT_EQ(j["event"], "");
}

TEST_F(LogTest, JsonFieldsNamedLikeTheFixedMembersCannotOverwriteThem) {
  set_format(Format::json);
  info("real", {{"ts", "1970-01-01T00:00:00.000Z"}, {"level", "error"}, {"event", "forged"}, {"user", "u"}});
  auto j = only_json_line();
  EXPECT_EQ(member_names(j), (std::vector<std::string>{"ts", "level", "event", "field_ts", "field_level",
                                                       "field_event", "user"}));
  EXPECT_EQ(j["level"], "info");
  EXPECT_EQ(j["event"], "real");
  EXPECT_NE(j["ts"], "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(j["field_ts"], "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(j["field_level"], "error");
  EXPECT_EQ(j["field_event"], "forged");
}

TEST_F(LogTest, JsonRepeatedFieldNameKeepsTheLastValueAtTheFirstPlace) {
  set_format(Format::json);
  info("dup", {{"a", "1"}, {"b", "2"}, {"a", "3"}, {"", "empty name"}, {"", "again"}});
  auto all = lines();
  ASSERT_EQ(all.size(), 1u);
  // Strict parse of the raw text: each name appears once.
  EXPECT_EQ(all[0].find("\"a\":", all[0].find("\"a\":") + 1), std::string::npos) << all[0];
  auto j = only_json_line();
  EXPECT_EQ(member_names(j), (std::vector<std::string>{"ts", "level", "event", "a", "b", ""}));
  EXPECT_EQ(j["a"], "3");
  EXPECT_EQ(j["b"], "2");
  EXPECT_EQ(j[""], "again");
}

// ---------------------------------------------------------------------------------------
// Levels and switching

TEST_F(LogTest, LinesBelowTheMinimumLevelAreDroppedInBothFormats) {
  for (Format f : {Format::kv, Format::json}) {
    set_format(f);
    set_min_level(Level::warning);
    debug("d");
    info("i");
    warning("w");
    error("e");
    set_min_level(Level::debug);
    debug("d2");
  }
  auto all = lines();
  ASSERT_EQ(all.size(), 6u);
  EXPECT_EQ(all[0], "level=warning event=w\n");
  EXPECT_EQ(all[1], "level=error event=e\n");
  EXPECT_EQ(all[2], "level=debug event=d2\n");
  std::vector<std::string> json_events;
  for (std::size_t i = 3; i < all.size(); ++i)
    json_events.push_back(ordered_json::parse(all[i])["event"].get<std::string>());
  EXPECT_EQ(json_events, (std::vector<std::string>{"w", "e", "d2"}));
}

TEST_F(LogTest, DebugIsDroppedByDefault) {
  debug("hidden");
  EXPECT_TRUE(lines().empty());
}

// Threads log while the format changes under them (a reload): every line is whole and
// in one of the two formats.
TEST_F(LogTest, ConcurrentLinesStayWholeWhileTheFormatChanges) {
  constexpr int kThreads = 4, kLines = 500;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([t] {
      for (int i = 0; i < kLines; ++i)
        info("req", {{"thread", std::to_string(t)}, {"i", std::to_string(i)}, {"v", "a\nb"}});
    });
  for (int i = 0; i < 200; ++i) set_format(i % 2 ? Format::json : Format::kv);
  for (auto& t : threads) t.join();
  auto all = lines();
  ASSERT_EQ(all.size(), static_cast<std::size_t>(kThreads * kLines));
  for (const auto& line : all) {
    ASSERT_EQ(line.find('\n'), line.size() - 1) << line;
    if (line.front() == '{') {
      auto j = ordered_json::parse(line, nullptr, false);
      ASSERT_TRUE(j.is_object()) << line;
      EXPECT_EQ(j["v"], "a\nb");
    } else {
      EXPECT_EQ(line.rfind("level=info event=req thread=", 0), 0u) << line;
      EXPECT_NE(line.find(" v=\"a\\x0ab\"\n"), std::string::npos) << line;
    }
  }
}

// ---------------------------------------------------------------------------------------
// Names

TEST(LogNames, LevelsParseExactlyTheirNames) {
  for (Level l : {Level::debug, Level::info, Level::warning, Level::error}) {
    EXPECT_EQ(parse_level(level_name(l)), l) << level_name(l);
  }
  EXPECT_EQ(level_name(Level::debug), "debug");
  EXPECT_EQ(level_name(Level::info), "info");
  EXPECT_EQ(level_name(Level::warning), "warning");
  EXPECT_EQ(level_name(Level::error), "error");
  for (const char* bad : {"", "INFO", "Info", "warn", "err", " info", "info ", "trace", "fatal", "0"})
    EXPECT_EQ(parse_level(bad), std::nullopt) << '"' << bad << '"';
}

TEST(LogNames, FormatsParseExactlyTheirNames) {
  EXPECT_EQ(parse_format("kv"), Format::kv);
  EXPECT_EQ(parse_format("json"), Format::json);
  EXPECT_EQ(format_name(Format::kv), "kv");
  EXPECT_EQ(format_name(Format::json), "json");
  for (const char* bad : {"", "JSON", "Json", "text", "logfmt", "key=value", " kv", "json\n"})
    EXPECT_EQ(parse_format(bad), std::nullopt) << '"' << bad << '"';
}

// ---------------------------------------------------------------------------------------
// Bidirectional-control characters: escaped in both formats, so a value cannot make the
// rest of its line display differently from what it holds.

struct BidiCase {
  std::string name;
  unsigned code_point;
  std::string utf8;
};

std::vector<BidiCase> bidi_cases() {
  return {{"LRM", 0x200e, "\xe2\x80\x8e"}, {"RLM", 0x200f, "\xe2\x80\x8f"}, {"ALM", 0x061c, "\xd8\x9c"},
          {"LRE", 0x202a, "\xe2\x80\xaa"}, {"RLE", 0x202b, "\xe2\x80\xab"}, {"PDF", 0x202c, "\xe2\x80\xac"},
          {"LRO", 0x202d, "\xe2\x80\xad"}, {"RLO", 0x202e, "\xe2\x80\xae"}, {"LRI", 0x2066, "\xe2\x81\xa6"},
          {"RLI", 0x2067, "\xe2\x81\xa7"}, {"FSI", 0x2068, "\xe2\x81\xa8"}, {"PDI", 0x2069, "\xe2\x81\xa9"}};
}

std::string hex4(unsigned cp) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "\\u%04x", cp);
  return buf;
}

// Each character alone, at the start, in the middle, at the end, repeated, and next to
// other escapes and non-ASCII text.
std::vector<std::string> bidi_values(const std::string& c) {
  return {c, c + "alice", "alice" + c, "ad" + c + "nimda", c + c + c, "a\n" + c + "\"b\\", "J\xc3\xbc" + c + "\xe6\x97\xa5",
          "admin" + c + "txt.exe", "x=1 " + c + "level=error"};
}

class BidiControls : public LogTest, public testing::WithParamInterface<BidiCase> {};

TEST_P(BidiControls, AreEscapedInKvValues) {
  const auto& c = GetParam();
  for (const auto& v : bidi_values(c.utf8)) {
    info("login.failure", {{"user", v}});
    const std::string line = lines().back();
    EXPECT_EQ(line.find(c.utf8), std::string::npos) << line;
    EXPECT_NE(line.find(hex4(c.code_point)), std::string::npos) << line;
    EXPECT_EQ(line.find('\n'), line.size() - 1) << line;
  }
  EXPECT_EQ(quote(c.utf8), "\"" + hex4(c.code_point) + "\"");
}

TEST_P(BidiControls, AreEscapedInJsonAndReadBackUnchanged) {
  const auto& c = GetParam();
  set_format(Format::json);
  for (const auto& v : bidi_values(c.utf8)) {
    info("login.failure", {{"user", v}, {"path" + c.utf8, v}});
    const std::string line = lines().back();
    EXPECT_EQ(line.find(c.utf8), std::string::npos) << line;
    EXPECT_NE(line.find(hex4(c.code_point)), std::string::npos) << line;
    auto j = ordered_json::parse(line, nullptr, false);
    ASSERT_TRUE(j.is_object()) << line;
    EXPECT_EQ(j["user"], v);
    EXPECT_EQ(j["path" + c.utf8], v);
  }
}

TEST_P(BidiControls, AreEscapedInEventNames) {
  const auto& c = GetParam();
  info("x" + c.utf8);
  set_format(Format::json);
  info("x" + c.utf8);
  for (const auto& line : lines()) EXPECT_EQ(line.find(c.utf8), std::string::npos) << line;
}

INSTANTIATE_TEST_SUITE_P(Log, BidiControls, testing::ValuesIn(bidi_cases()),
                         [](const testing::TestParamInfo<BidiCase>& info) { return info.param.name; });

// Their neighbours in Unicode are ordinary text and stay as they are.
TEST_F(LogTest, CharactersNextToTheBidiControlsAreWrittenRaw) {
  for (const std::string v : {"\xe2\x80\x8d" /* ZWJ */, "\xe2\x80\x90" /* hyphen */, "\xe2\x80\xa9" /* PS */,
                              "\xe2\x80\xaf" /* NNBSP */, "\xe2\x81\xa5", "\xe2\x81\xaa", "\xd8\x9b" /* ؛ */,
                              "\xd8\x9d", "\xe2\x82\xac" /* € */}) {
    info("e", {{"v", v}});
    EXPECT_NE(lines().back().find(v), std::string::npos) << lines().back();
    set_format(Format::json);
    info("e", {{"v", v}});
    EXPECT_NE(lines().back().find(v), std::string::npos) << lines().back();
    set_format(Format::kv);
  }
}

}  // namespace
}  // namespace gatehouse::log
