#pragma once

#include <caf/error.hpp>
#include <caf/message.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace olocal {

/// Every error the system produces. One enum for all layers; the gateways map
/// it to gRPC and HTTP status codes with the tables below, never by text.
enum class errc : uint8_t {
  invalid_argument = 1, ///< a request field is missing or malformed
  not_found,            ///< a named volume, snapshot, node or group is unknown
  already_exists,       ///< a duplicate name with incompatible parameters
  resource_exhausted,   ///< not enough capacity
  out_of_range,         ///< a requested size or range cannot be satisfied
  aborted,              ///< another operation on the same object is in flight
  failed_precondition,  ///< the object is not in a state that allows the call
  unavailable,          ///< a peer or backend is temporarily unreachable
  timeout,              ///< a deadline passed
  unauthenticated,      ///< no or invalid credentials
  permission_denied,    ///< valid credentials, operation not allowed
  unimplemented,        ///< the capability is not supported
  conflict,             ///< a concurrent update won (optimistic concurrency)
  payload_too_large,    ///< an input exceeds its size limit
  parse_error,          ///< an outside document (report, body, config) is unreadable
  config_invalid,       ///< a configuration value is wrong
  command_failed,       ///< an external command exited non-zero
  device_busy,          ///< a device is in use or holds data
  io_error,             ///< reading or writing a device or file failed
  no_device_mapper,     ///< the kernel lacks device-mapper
  shutting_down,        ///< intake is closed, the process is stopping
  internal,             ///< a broken invariant; always a bug
};

/// All codes, in declaration order (for exhaustive tables and tests).
inline constexpr std::array all_errcs = {
  errc::invalid_argument,
  errc::not_found,
  errc::already_exists,
  errc::resource_exhausted,
  errc::out_of_range,
  errc::aborted,
  errc::failed_precondition,
  errc::unavailable,
  errc::timeout,
  errc::unauthenticated,
  errc::permission_denied,
  errc::unimplemented,
  errc::conflict,
  errc::payload_too_large,
  errc::parse_error,
  errc::config_invalid,
  errc::command_failed,
  errc::device_busy,
  errc::io_error,
  errc::no_device_mapper,
  errc::shutting_down,
  errc::internal,
};

/// The numeric values of grpc::StatusCode, kept here so that actors do not
/// depend on gRPC headers. Values are fixed by the gRPC wire protocol.
enum class grpc_code : int {
  ok = 0,
  cancelled = 1,
  unknown = 2,
  invalid_argument = 3,
  deadline_exceeded = 4,
  not_found = 5,
  already_exists = 6,
  permission_denied = 7,
  resource_exhausted = 8,
  failed_precondition = 9,
  aborted = 10,
  out_of_range = 11,
  unimplemented = 12,
  internal = 13,
  unavailable = 14,
  data_loss = 15,
  unauthenticated = 16,
};

/// The error category under which CAF carries our codes.
inline constexpr std::string_view errc_category = "olocal";

/// Stable snake_case name of a code (used in logs, JSON and metrics labels).
std::string_view to_string(errc code);

/// Inverse of to_string.
std::optional<errc> errc_from_string(std::string_view name);

/// The gRPC status code a CSI or agent client receives for this error.
grpc_code to_grpc_code(errc code);

/// The HTTP status code an HTTP client (extender, admin) receives.
int to_http_status(errc code);

/// Builds an error with a context message, e.g.
/// make_error(errc::not_found, "volume local-1 does not exist").
caf::error make_error(errc code, std::string message);

/// A failed system call on a file: "<op>: <strerror(err)>" with `code`.
caf::error errno_error(errc code, const std::string& op, int err);

/// The code for a failed system call on a file we keep or clear: EACCES and
/// EPERM permission_denied, EBUSY device_busy, anything else io_error.
errc file_errc(int err);

/// True if `err` carries one of our codes.
bool is_olocal(const caf::error& err);

/// Our code of `err`, or errc::internal for errors of other categories
/// (CAF's own runtime errors are bugs or shutdown from our point of view,
/// except for request timeouts, which map to errc::timeout).
errc code_of(const caf::error& err);

/// The context message of `err` (empty if none).
std::string message_of(const caf::error& err);

/// "not_found: volume local-1 does not exist" for our errors, CAF's own
/// rendering for others. Never empty for a non-empty error.
std::string render(const caf::error& err);

/// The renderer registered with the actor system for our category.
std::string render_errc(uint8_t code, const caf::message& context);

} // namespace olocal

CAF_ERROR_CODE_ENUM(olocal::errc, "olocal")
