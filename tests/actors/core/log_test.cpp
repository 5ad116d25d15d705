#include "actors/core/log.hpp"

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include <vector>

using namespace olocal;

namespace {

struct captured_log : ::testing::Test {
  std::vector<std::string> lines;
  captured_log() {
    log::set_sink([this](std::string_view line) { lines.emplace_back(line); });
    log::set_level(log::level::debug);
  }
  ~captured_log() override {
    log::set_sink(nullptr);
    log::set_level(log::level::info);
    log::set_format(log::format::text);
  }
};

} // namespace

TEST_F(captured_log, text_lines_carry_level_actor_message_and_fields) {
  log::set_format(log::format::text);
  log::info("vg/pool0", "created lv", {{"lv", "local-1"}, {"bytes", 1073741824u}});
  ASSERT_EQ(lines.size(), 1u);
  auto& line = lines[0];
  EXPECT_NE(line.find(" INFO  [vg/pool0] created lv lv=local-1 bytes=1073741824"),
            std::string::npos)
    << line;
  EXPECT_EQ(line.substr(4, 1), "-"); // starts with an ISO date
}

TEST_F(captured_log, text_values_with_spaces_are_quoted) {
  log::set_format(log::format::text);
  log::warn("x", "m", {{"reason", "no space left"}, {"empty", ""}});
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("reason=\"no space left\" empty=\"\""), std::string::npos) << lines[0];
}

TEST_F(captured_log, json_lines_parse_and_keep_types) {
  log::set_format(log::format::json);
  log::error("disk/sda", "probe \"failed\"\n", {{"code", 5}, {"ok", false}, {"dev", "/dev/sda"}});
  ASSERT_EQ(lines.size(), 1u);
  auto doc = boost::json::parse(lines[0]).as_object();
  EXPECT_EQ(doc.at("level").as_string(), "error");
  EXPECT_EQ(doc.at("actor").as_string(), "disk/sda");
  EXPECT_EQ(doc.at("msg").as_string(), "probe \"failed\"\n");
  EXPECT_EQ(doc.at("code").as_int64(), 5);
  EXPECT_EQ(doc.at("ok").as_bool(), false);
  EXPECT_EQ(doc.at("dev").as_string(), "/dev/sda");
  EXPECT_TRUE(doc.contains("ts"));
}

TEST_F(captured_log, levels_below_the_threshold_are_dropped) {
  log::set_level(log::level::warn);
  log::debug("a", "d");
  log::info("a", "i");
  log::warn("a", "w");
  log::error("a", "e");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[0].find("WARN"), std::string::npos);
  EXPECT_NE(lines[1].find("ERROR"), std::string::npos);
}

TEST(log_names, levels_and_formats_parse) {
  EXPECT_EQ(log::level_from_string("debug"), log::level::debug);
  EXPECT_EQ(log::level_from_string("warning"), log::level::warn);
  EXPECT_EQ(log::level_from_string("loud"), std::nullopt);
  EXPECT_EQ(log::format_from_string("json"), log::format::json);
  EXPECT_EQ(log::format_from_string("xml"), std::nullopt);
}
