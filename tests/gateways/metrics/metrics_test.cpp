#include "gateways/metrics/metrics.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <regex>
#include <set>
#include <sstream>

using namespace olocal;

TEST(metrics, catalogue_names_are_valid_and_unique) {
  std::regex name_re{"^[a-zA-Z_:][a-zA-Z0-9_:]*$"};
  std::regex label_re{"^[a-zA-Z_][a-zA-Z0-9_]*$"};
  std::set<std::string_view> names;
  ASSERT_FALSE(metrics::catalogue().empty());
  for (auto& d : metrics::catalogue()) {
    SCOPED_TRACE(std::string{d.name});
    EXPECT_TRUE(names.insert(d.name).second);
    EXPECT_TRUE(std::regex_match(std::string{d.name}, name_re));
    EXPECT_FALSE(d.help.empty());
    EXPECT_TRUE(d.kind == "counter" || d.kind == "gauge" || d.kind == "histogram");
    if (d.kind == "counter") {
      EXPECT_TRUE(d.name.size() > 6 && d.name.substr(d.name.size() - 6) == "_total");
    }
    for (auto& l : d.labels)
      EXPECT_TRUE(std::regex_match(std::string{l}, label_re)) << l;
  }
}

TEST(metrics, exposition_uses_only_declared_names_and_labels) {
  metrics::registry m;
  m.build_info.Add({{"version", "1"}, {"commit", "abc"}, {"build_type", "Debug"}}).Set(1);
  m.http_requests.Add({{"route", "/metrics"}, {"code", "200"}}).Increment(3);
  m.http_request_duration.Add({{"route", "/metrics"}}, metrics::registry::latency_buckets())
    .Observe(0.002);
  m.actors.Add({{"kind", "disk"}}).Set(4);
  auto text = m.serialize();
  EXPECT_NE(text.find("# HELP open_local_http_requests_total"), std::string::npos);
  EXPECT_NE(text.find("open_local_http_requests_total{code=\"200\",route=\"/metrics\"} 3"),
            std::string::npos)
    << text;
  EXPECT_NE(
    text.find(
      "open_local_http_request_duration_seconds_bucket{route=\"/metrics\",le=\"0.0025\"} 1"),
    std::string::npos)
    << text;

  // Every sample line belongs to a declared family and uses declared labels.
  std::map<std::string, std::set<std::string>> declared;
  for (auto& d : metrics::catalogue()) {
    auto& labels = declared[std::string{d.name}];
    for (auto& l : d.labels)
      labels.insert(std::string{l});
  }
  std::regex sample_re{R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? .*$)"};
  std::regex label_re{R"(([a-zA-Z_][a-zA-Z0-9_]*)=")"};
  std::istringstream lines{text};
  std::string line;
  size_t samples = 0;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#')
      continue;
    std::smatch m;
    ASSERT_TRUE(std::regex_match(line, m, sample_re)) << line;
    std::string name = m[1];
    for (auto suffix : {"_bucket", "_sum", "_count"})
      if (!declared.count(name) && name.size() > std::strlen(suffix) &&
          name.compare(name.size() - std::strlen(suffix), std::string::npos, suffix) == 0)
        name.resize(name.size() - std::strlen(suffix));
    ASSERT_TRUE(declared.count(name)) << "undeclared metric in " << line;
    std::string labels = m[3];
    for (std::sregex_iterator i{labels.begin(), labels.end(), label_re}, end; i != end; ++i) {
      auto label = (*i)[1].str();
      if (label != "le") {
        EXPECT_TRUE(declared[name].count(label)) << "undeclared label " << label << " in " << line;
      }
    }
    ++samples;
  }
  EXPECT_GT(samples, 20u);
}
