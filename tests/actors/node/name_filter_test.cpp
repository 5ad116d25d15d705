#include "actors/node/name_filter.hpp"

#include "actors/core/errc.hpp"

#include <gtest/gtest.h>

using namespace olocal;
using names = std::vector<std::string>;

TEST(name_filter, open_local_semantics) {
  struct row {
    names include, exclude, input, expected;
  } rows[] = {
    // open-local's default device filter skips NVMe; ours can include it.
    {{"^(s|v|xv)d[a-z]+$"}, {}, {"sda", "vdb", "nvme0n1", "sda1"}, {"sda", "vdb"}},
    {{"(s|v|xv)d[a-z]+", "nvme[0-9]+n[0-9]+"},
     {},
     {"sda", "nvme0n1", "nvme0n1p1"},
     {"sda", "nvme0n1"}},
    // The whole name must match: "open-local-pool-1x" is not a pool name.
    {{"open-local-pool-[0-9]+", "yoda-pool[0-9]+"},
     {},
     {"open-local-pool-0", "open-local-pool-1x", "yoda-pool3", "other"},
     {"open-local-pool-0", "yoda-pool3"}},
    {{".*"}, {"sda.*"}, {"sda", "sda1", "sdb"}, {"sdb"}},
    {{}, {}, {"sda"}, {}}, // empty include selects nothing
    {{"sd[a-z]"}, {"sdb"}, {"sdb", "sdc"}, {"sdc"}},
  };
  for (auto& r : rows) {
    auto f = name_filter::make(r.include, r.exclude);
    ASSERT_TRUE(f) << render(f.error());
    EXPECT_EQ(f->select(r.input), r.expected);
  }
}

TEST(name_filter, bad_expressions_are_named) {
  auto f = name_filter::make({"sd[a-"}, {});
  ASSERT_FALSE(f);
  EXPECT_EQ(code_of(f.error()), errc::invalid_argument);
  EXPECT_NE(render(f.error()).find("include: 'sd[a-'"), std::string::npos) << render(f.error());
  auto g = name_filter::make({".*"}, {"(unclosed"});
  ASSERT_FALSE(g);
  EXPECT_NE(render(g.error()).find("exclude"), std::string::npos);
}
