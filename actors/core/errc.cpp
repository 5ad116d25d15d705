#include "actors/core/errc.hpp"

#include <cerrno>
#include <cstring>

#include <caf/message.hpp>
#include <caf/sec.hpp>

namespace olocal {

namespace {

struct errc_row {
  errc code;
  std::string_view name;
  grpc_code grpc;
  int http;
};

// The one table that gives every code its name and its two mappings. The CSI
// spec's error tables decide the gRPC column; the HTTP column follows RFC 9110.
constexpr std::array<errc_row, all_errcs.size()> table = {{
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
}};

constexpr bool table_is_complete() {
  for (size_t i = 0; i < table.size(); ++i)
    if (table[i].code != all_errcs[i])
      return false;
  return true;
}
static_assert(table_is_complete(), "errc table must list every code in order");

const errc_row* row_of(errc code) {
  auto index = static_cast<size_t>(code) - 1;
  return index < table.size() ? &table[index] : nullptr;
}

} // namespace

std::string_view to_string(errc code) {
  auto row = row_of(code);
  return row ? row->name : std::string_view{"unknown_errc"};
}

std::optional<errc> errc_from_string(std::string_view name) {
  for (auto& row : table)
    if (row.name == name)
      return row.code;
  return std::nullopt;
}

grpc_code to_grpc_code(errc code) {
  auto row = row_of(code);
  return row ? row->grpc : grpc_code::unknown;
}

int to_http_status(errc code) {
  auto row = row_of(code);
  return row ? row->http : 500;
}

caf::error make_error(errc code, std::string message) {
  return caf::error{static_cast<uint8_t>(code), caf::atom("olocal"),
                    caf::make_message(std::move(message))};
}

bool is_olocal(const caf::error& err) {
  return err && err.category() == caf::atom("olocal");
}

errc code_of(const caf::error& err) {
  if (is_olocal(err) && row_of(static_cast<errc>(err.code())))
    return static_cast<errc>(err.code());
  if (err && err.category() == caf::atom("system")) {
    auto sec = static_cast<caf::sec>(err.code());
    if (sec == caf::sec::request_timeout)
      return errc::timeout;
    if (sec == caf::sec::request_receiver_down)
      return errc::unavailable;
  }
  return errc::internal;
}

std::string message_of(const caf::error& err) {
  auto& ctx = err.context();
  if (ctx.size() == 1 && ctx.match_element<std::string>(0))
    return ctx.get_as<std::string>(0);
  return ctx.empty() ? std::string{} : to_string(ctx);
}

std::string render_errc(uint8_t code, const caf::message& context) {
  std::string result{to_string(static_cast<errc>(code))};
  if (context.size() == 1 && context.match_element<std::string>(0)) {
    auto& text = context.get_as<std::string>(0);
    if (!text.empty()) {
      result += ": ";
      result += text;
    }
  } else if (!context.empty()) {
    result += ": ";
    result += to_string(context);
  }
  return result;
}

std::string render(const caf::error& err) {
  if (!err)
    return {};
  if (is_olocal(err))
    return render_errc(err.code(), err.context());
  std::string result = caf::to_string(err);
  return result.empty() ? std::string{"error"} : result;
}

caf::error errno_error(errc code, const std::string& op, int err) {
  return make_error(code, op + ": " + std::strerror(err));
}

errc file_errc(int err) {
  switch (err) {
  case EACCES:
  case EPERM:
    return errc::permission_denied;
  case EBUSY:
    return errc::device_busy;
  default:
    return errc::io_error;
  }
}

} // namespace olocal
