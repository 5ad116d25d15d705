#include "actors/core/quantity.hpp"

#include "actors/core/errc.hpp"

#include <array>
#include <cctype>
#include <charconv>
#include <limits>
#include <utility>

namespace olocal {

namespace {

__extension__ using u128 = unsigned __int128; // exact arithmetic up to 2^64 * 2^60

} // namespace

caf::expected<uint64_t> parse_quantity(std::string_view text) {
  auto fail = [&] {
    return make_error(errc::invalid_argument, "\"" + std::string{text} + "\" is not a quantity");
  };
  if (text.empty())
    return fail();
  size_t i = 0;
  if (text[0] == '+')
    ++i;
  // integer and fraction digits
  u128 whole = 0;
  u128 frac_num = 0;
  u128 frac_den = 1;
  bool digits = false;
  for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i) {
    digits = true;
    whole = whole * 10 + static_cast<unsigned>(text[i] - '0');
    if (whole > std::numeric_limits<uint64_t>::max())
      return fail();
  }
  if (i < text.size() && text[i] == '.') {
    ++i;
    for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i) {
      digits = true;
      if (frac_den < 1'000'000'000'000'000'000ull) { // 18 digits are more than a byte needs
        frac_num = frac_num * 10 + static_cast<unsigned>(text[i] - '0');
        frac_den *= 10;
      }
    }
  }
  if (!digits)
    return fail();
  static constexpr std::array<std::pair<std::string_view, uint64_t>, 12> suffixes{{
    {"Ki", 1ull << 10},
    {"Mi", 1ull << 20},
    {"Gi", 1ull << 30},
    {"Ti", 1ull << 40},
    {"Pi", 1ull << 50},
    {"Ei", 1ull << 60},
    {"k", 1'000ull},
    {"M", 1'000'000ull},
    {"G", 1'000'000'000ull},
    {"T", 1'000'000'000'000ull},
    {"P", 1'000'000'000'000'000ull},
    {"E", 1'000'000'000'000'000'000ull},
  }};
  auto rest = text.substr(i);
  uint64_t mult = 1;
  if (!rest.empty()) {
    bool known = false;
    for (auto& [s, m] : suffixes)
      if (rest == s) {
        mult = m;
        known = true;
      }
    if (!known)
      return fail();
  }
  u128 bytes = whole * mult + (frac_num * mult + frac_den - 1) / frac_den;
  if (bytes > std::numeric_limits<uint64_t>::max())
    return fail();
  return static_cast<uint64_t>(bytes);
}

bool parse_u64(std::string_view text, uint64_t& out) {
  if (text.empty() || text.front() == '+' || text.front() == '-')
    return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc{} && end == text.data() + text.size();
}

} // namespace olocal
