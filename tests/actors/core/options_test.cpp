#include "actors/core/options.hpp"

#include "actors/core/errc.hpp"
#include "tests/support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

using namespace olocal;
using namespace std::chrono_literals;

namespace {

struct sample {
  uint64_t workers = 0;
  std::string level = "info";
  bool verbose = false;
  std::string name = "open-local";
  std::chrono::milliseconds interval{60'000};
  std::vector<std::string> include;
  option_set set{"node"};

  sample() {
    set.add("workers", workers, "threads", 0, 64);
    set.add_choice("log-level", level, {"debug", "info"}, "level");
    set.add("verbose", verbose, "chatty");
    set.add("name", name, "name");
    set.add("interval", interval, "rescan interval");
    set.add_list("include", include, "patterns");
  }
};

test::temp_dir config_dir{"olocal-options"};

std::string temp_file(const std::string& text) {
  return config_dir.write(std::to_string(std::hash<std::string>{}(text)) + ".json", text);
}

} // namespace

TEST(options, flags_in_both_forms_and_bare_booleans) {
  sample s;
  std::vector<std::string> positional;
  ASSERT_FALSE(s.set.parse({"--workers", "4", "--log_level=debug", "--verbose", "extra",
                            "--interval", "500ms", "--include", "a", "--include=b"},
                           &positional));
  EXPECT_EQ(s.workers, 4u);
  EXPECT_EQ(s.level, "debug");
  EXPECT_TRUE(s.verbose);
  EXPECT_EQ(s.interval, 500ms);
  EXPECT_EQ(s.include, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(positional, std::vector<std::string>{"extra"});
}

TEST(options, errors_name_the_option) {
  {
    sample s;
    auto err = s.set.parse({"--workers", "many"});
    EXPECT_EQ(code_of(err), errc::config_invalid);
    EXPECT_NE(render(err).find("--workers"), std::string::npos) << render(err);
    EXPECT_EQ(s.workers, 0u) << "a bad value must not change the option";
  }
  {
    sample s;
    auto err = s.set.parse({"--workers", "65"});
    EXPECT_NE(render(err).find("from 0 to 64"), std::string::npos) << render(err);
  }
  {
    sample s;
    auto err = s.set.parse({"--colour", "red"});
    EXPECT_EQ(code_of(err), errc::invalid_argument);
    EXPECT_NE(render(err).find("--colour"), std::string::npos);
  }
  {
    sample s;
    auto err = s.set.parse({"--log-level", "loud"});
    EXPECT_NE(render(err).find("one of debug|info"), std::string::npos) << render(err);
  }
  {
    sample s;
    EXPECT_TRUE(s.set.parse({"--name"}));
    EXPECT_TRUE(s.set.parse({"stray"})) << "positional arguments are refused when not expected";
  }
}

TEST(options, config_file_then_flags_win) {
  auto path = temp_file(R"({"workers": 2, "log-level": "debug", "name": "from-file",
                             "verbose": true, "interval": "2m", "include": ["x", "y"]})");
  sample s;
  ASSERT_FALSE(s.set.parse({"--name", "from-flag", "--config", path}));
  EXPECT_EQ(s.workers, 2u);
  EXPECT_EQ(s.level, "debug");
  EXPECT_TRUE(s.verbose);
  EXPECT_EQ(s.name, "from-flag");
  EXPECT_EQ(s.interval, 120s);
  EXPECT_EQ(s.include, (std::vector<std::string>{"x", "y"}));
}

TEST(options, bad_config_files_are_refused_with_the_reason) {
  struct bad_case {
    const char* text;
    const char* expected;
  } cases[] = {
    {"{not json", "not valid JSON"},
    {"[1,2]", "must be a JSON object"},
    {R"({"colour": 1})", "unknown option 'colour'"},
    {R"({"workers": "x"})", "--workers"},
    {R"({"workers": 1.5})", "wrong type"},
    {R"({"include": [1]})", "list of strings"},
  };
  for (auto& c : cases) {
    SCOPED_TRACE(c.text);
    auto path = temp_file(c.text);
    sample s;
    auto err = s.set.parse({"--config", path});
    ASSERT_TRUE(err);
    EXPECT_NE(render(err).find(c.expected), std::string::npos) << render(err);
    EXPECT_NE(render(err).find(path), std::string::npos) << "names the file: " << render(err);
  }
  sample s;
  auto err = s.set.parse({"--config", "/nonexistent/olocal.json"});
  EXPECT_NE(render(err).find("cannot read config file"), std::string::npos);
}

TEST(options, help_and_usage) {
  sample s;
  ASSERT_FALSE(s.set.parse({"--workers", "3", "--help"}));
  EXPECT_TRUE(s.set.help_requested());
  auto text = s.set.usage("Runs a node.");
  EXPECT_NE(text.find("Usage: open-local node"), std::string::npos);
  EXPECT_NE(text.find("--workers N"), std::string::npos);
  EXPECT_NE(text.find("(default: 0)"), std::string::npos);
  EXPECT_NE(text.find("--log-level debug|info"), std::string::npos);
  EXPECT_NE(text.find("--config FILE"), std::string::npos);
}

TEST(options, durations) {
  std::chrono::milliseconds d{};
  EXPECT_FALSE(parse_duration("45", d));
  EXPECT_EQ(d, 45s);
  EXPECT_FALSE(parse_duration("250ms", d));
  EXPECT_EQ(d, 250ms);
  EXPECT_FALSE(parse_duration("1h", d));
  EXPECT_EQ(d, 3600s);
  EXPECT_TRUE(parse_duration("", d));
  EXPECT_TRUE(parse_duration("5 s", d));
  EXPECT_TRUE(parse_duration("-1s", d));
  EXPECT_TRUE(parse_duration("3d", d));
  EXPECT_TRUE(parse_duration("99999999999999999999s", d));
}
