#pragma once

#include <caf/expected.hpp>

#include <cstdint>
#include <string_view>

namespace olocal {

/// Parses a Kubernetes resource quantity into bytes: a plain integer
/// ("1048576"), binary suffixes Ki Mi Gi Ti Pi Ei, decimal suffixes k M G T
/// P E, an optional decimal fraction ("1.5Gi", rounded up to a whole byte).
/// invalid_argument for anything else, negatives, or values beyond 2^64-1.
caf::expected<uint64_t> parse_quantity(std::string_view text);

/// A plain decimal count: digits only (no sign, no space), below 2^64.
bool parse_u64(std::string_view text, uint64_t& out);

} // namespace olocal
