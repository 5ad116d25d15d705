#include "actors/backends/process.hpp"

#include "actors/core/errc.hpp"

#include <gtest/gtest.h>

using namespace olocal;
using namespace std::chrono_literals;

TEST(process, captures_exit_code_and_both_streams) {
  auto r = run_command({{"sh", "-c", "echo out; echo err >&2; exit 3"}, 10s});
  ASSERT_TRUE(r) << render(r.error());
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_EQ(r->out, "out\n");
  EXPECT_EQ(r->err, "err\n");
  EXPECT_FALSE(r->timed_out);
}

TEST(process, arguments_reach_the_program_verbatim) {
  // No shell in between: quotes, globs and $ stay literal.
  auto r = run_command({{"printf", "%s|", "a b", "*", "$HOME", "'q'"}, 10s});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_EQ(r->out, "a b|*|$HOME|'q'|");
}

TEST(process, timeout_kills_the_process_group) {
  // The child starts a grandchild that would outlive it: both are killed.
  auto r = run_command({{"sh", "-c", "sleep 30 & sleep 30"}, 300ms});
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->timed_out);
  EXPECT_EQ(r->exit_code, 128 + SIGTERM);
  EXPECT_LT(r->elapsed, 5s);
}

TEST(process, stdin_and_environment) {
  auto r = run_command(
    {{"sh", "-c", "cat; echo \"$OLOCAL_TEST_VAR\""}, 10s, {"OLOCAL_TEST_VAR=hello"}, "input\n"});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->out, "input\nhello\n");
}

TEST(process, large_output_is_read_fully_and_capped) {
  command_spec spec{{"head", "-c", "300000", "/dev/zero"}, 10s};
  auto r = run_command(spec);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->out.size(), 300000u);
  EXPECT_FALSE(r->output_truncated);
  spec.max_output_bytes = 1000;
  r = run_command(spec);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->out.size(), 1000u);
  EXPECT_TRUE(r->output_truncated);
  EXPECT_EQ(r->exit_code, 0);
}

TEST(process, missing_program_and_empty_argv_are_errors) {
  auto missing = run_command({{"olocal-no-such-program"}, 1s});
  ASSERT_FALSE(missing);
  EXPECT_EQ(code_of(missing.error()), errc::not_found);
  EXPECT_NE(render(missing.error()).find("olocal-no-such-program"), std::string::npos);
  auto empty = run_command({{}, 1s});
  ASSERT_FALSE(empty);
  EXPECT_EQ(code_of(empty.error()), errc::invalid_argument);
}

TEST(process, render_argv_quotes_what_a_reader_needs) {
  EXPECT_EQ(render_argv({"lvcreate", "-n", "local-1", "vg0"}), "lvcreate -n local-1 vg0");
  EXPECT_EQ(render_argv({"echo", "a b", "", "it's"}), "echo 'a b' '' 'it'\\''s'");
}
