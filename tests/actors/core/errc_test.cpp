#include "actors/core/errc.hpp"

#include <caf/sec.hpp>
#include <gtest/gtest.h>

#include <set>

using namespace olocal;

namespace {

// The expected mapping, written out independently of the implementation's
// table: every code must appear here exactly once (checked below).
struct expected_row {
  errc code;
  const char* name;
  grpc_code grpc;
  int http;
};

const expected_row expected[] = {
  {errc::invalid_argument, "invalid_argument", grpc_code::invalid_argument, 400},
  {errc::not_found, "not_found", grpc_code::not_found, 404},
  {errc::already_exists, "already_exists", grpc_code::already_exists, 409},
  {errc::resource_exhausted, "resource_exhausted", grpc_code::resource_exhausted, 507},
  {errc::out_of_range, "out_of_range", grpc_code::out_of_range, 416},
  {errc::aborted, "aborted", grpc_code::aborted, 409},
  {errc::failed_precondition, "failed_precondition", grpc_code::failed_precondition, 412},
  {errc::unavailable, "unavailable", grpc_code::unavailable, 503},
  {errc::timeout, "timeout", grpc_code::deadline_exceeded, 504},
  {errc::unauthenticated, "unauthenticated", grpc_code::unauthenticated, 401},
  {errc::permission_denied, "permission_denied", grpc_code::permission_denied, 403},
  {errc::unimplemented, "unimplemented", grpc_code::unimplemented, 501},
  {errc::conflict, "conflict", grpc_code::aborted, 409},
  {errc::payload_too_large, "payload_too_large", grpc_code::invalid_argument, 413},
  {errc::parse_error, "parse_error", grpc_code::invalid_argument, 400},
  {errc::config_invalid, "config_invalid", grpc_code::invalid_argument, 400},
  {errc::command_failed, "command_failed", grpc_code::internal, 500},
  {errc::device_busy, "device_busy", grpc_code::failed_precondition, 409},
  {errc::io_error, "io_error", grpc_code::internal, 500},
  {errc::no_device_mapper, "no_device_mapper", grpc_code::failed_precondition, 503},
  {errc::shutting_down, "shutting_down", grpc_code::unavailable, 503},
  {errc::internal, "internal", grpc_code::internal, 500},
};

} // namespace

TEST(errc, expected_table_covers_every_code_once) {
  std::set<errc> seen;
  for (auto& row : expected)
    EXPECT_TRUE(seen.insert(row.code).second) << row.name << " listed twice";
  for (auto code : all_errcs)
    EXPECT_TRUE(seen.count(code)) << to_string(code) << " missing from the expected table";
  EXPECT_EQ(seen.size(), all_errcs.size());
}

TEST(errc, every_code_has_its_name_and_mappings) {
  for (auto& row : expected) {
    SCOPED_TRACE(row.name);
    EXPECT_EQ(to_string(row.code), row.name);
    EXPECT_EQ(errc_from_string(row.name), row.code);
    EXPECT_EQ(to_grpc_code(row.code), row.grpc);
    EXPECT_EQ(to_http_status(row.code), row.http);
  }
}

TEST(errc, names_are_unique_and_mappings_are_errors) {
  std::set<std::string_view> names;
  for (auto code : all_errcs) {
    EXPECT_TRUE(names.insert(to_string(code)).second);
    EXPECT_NE(to_grpc_code(code), grpc_code::ok);
    EXPECT_GE(to_http_status(code), 400);
    EXPECT_LE(to_http_status(code), 599);
  }
}

TEST(errc, values_outside_the_enum_are_handled) {
  auto bogus = static_cast<errc>(0);
  EXPECT_EQ(to_string(bogus), "unknown_errc");
  EXPECT_EQ(to_grpc_code(bogus), grpc_code::unknown);
  EXPECT_EQ(to_http_status(bogus), 500);
  auto past_end = static_cast<errc>(all_errcs.size() + 1);
  EXPECT_EQ(to_string(past_end), "unknown_errc");
  EXPECT_EQ(errc_from_string("no_such_code"), std::nullopt);
}

TEST(errc, render_names_code_and_context) {
  auto err = make_error(errc::not_found, "volume local-1 does not exist");
  EXPECT_TRUE(is_olocal(err));
  EXPECT_EQ(code_of(err), errc::not_found);
  EXPECT_EQ(message_of(err), "volume local-1 does not exist");
  EXPECT_EQ(render(err), "not_found: volume local-1 does not exist");
  EXPECT_EQ(render(make_error(errc::internal, "")), "internal");
  EXPECT_EQ(render(caf::error{}), "");
}

TEST(errc, caf_errors_map_to_our_codes) {
  EXPECT_EQ(code_of(caf::make_error(caf::sec::request_timeout)), errc::timeout);
  EXPECT_EQ(code_of(caf::make_error(caf::sec::request_receiver_down)), errc::unavailable);
  EXPECT_EQ(code_of(caf::make_error(caf::sec::runtime_error)), errc::internal);
  EXPECT_FALSE(is_olocal(caf::make_error(caf::sec::runtime_error)));
  EXPECT_FALSE(render(caf::make_error(caf::sec::request_timeout)).empty());
}

TEST(errc, registered_renderer_matches_render) {
  auto err = make_error(errc::resource_exhausted, "vg pool0 has 1 GiB free, 2 GiB requested");
  EXPECT_EQ(render_errc(err.code(), err.context()), render(err));
}
